//! Host bindings, one module per `wasmcron:job` world version whose exports differ:
//! [`current`] from `wit/job.wit` (0.3.0), [`v0_2`] from `wit/versions/0.2.0/job.wit`
//! (0.2.0 and 0.1.0 components: their `describe` returns job classes without an
//! `arguments-schema`). `run` and the imports take the same shapes in every version,
//! so one linker serves them all (`component.rs`).

/// The newest world, `wit/job.wit`.
pub mod current {
    wasmtime::component::bindgen!({
        path: "../wit/job.wit",
        world: "job",
        imports: { default: async },
        exports: { default: async },
    });
}

/// The 0.2.0 world, whose job classes 0.1.0 components return too.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit/versions/0.2.0/job.wit",
        world: "job",
        imports: { default: async },
        exports: { default: async },
    });
}
