//! Host bindings generated from `wit/job.wit`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "job",
    imports: { default: async },
    exports: { default: async },
});
