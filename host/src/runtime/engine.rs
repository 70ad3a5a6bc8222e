//! The one wasmtime `Engine` of a process and its epoch ticker.

use super::compile::CompileOptions;
use super::inspect::{PluginLimits, PoolNeeds};
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the engine's epoch advances. A running guest yields to tokio at every
/// tick and a timeout or cancel takes effect within one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine-wide settings, fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How many runs may be instantiated at once. Sizes the pooling allocator; the
    /// scheduler must keep concurrent runs at or below it.
    pub max_concurrent_runs: u32,
    /// The largest memory limit any run may have, in bytes (sizes the pool's slots).
    pub max_memory_bytes: usize,
    /// Meter fuel, so that runs can have a CPU budget. Changes the generated code (and
    /// so the cache key), and costs a little on every run.
    pub fuel_metering: bool,
    /// What a plugin's class list may hold.
    pub class_limits: ClassLimits,
    /// What one instantiation of a plugin may take, and how large its code may be.
    pub plugin_limits: PluginLimits,
    /// How plugins are compiled, and within what time.
    pub compile: CompileOptions,
    /// The memory all runs together may reserve (their limits), in bytes; none: no
    /// budget beyond the pool.
    pub memory_budget_bytes: Option<u64>,
    /// The share of each instance pool the runs of one plugin may hold at once, in
    /// percent (`--plugin-pool-share-percent`).
    pub plugin_pool_share_percent: u32,
}

/// The bounds of a plugin's class list (its `describe()` or its manifest): a plugin
/// over one is refused, naming the flag that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassLimits {
    /// Classes per plugin (`--max-plugin-classes`).
    pub max_classes: usize,
    /// Arguments per class (`--max-class-arguments`).
    pub max_arguments: usize,
    /// Bytes of each of a class's name, notes, argument docs (all of them together),
    /// example arguments and arguments schema (`--max-class-doc-bytes`).
    pub max_doc_bytes: usize,
}

impl Default for ClassLimits {
    fn default() -> Self {
        ClassLimits {
            max_classes: 1000,
            max_arguments: 100,
            max_doc_bytes: 64 << 10,
        }
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            max_concurrent_runs: 256,
            max_memory_bytes: 4 << 30,
            fuel_metering: false,
            class_limits: ClassLimits::default(),
            plugin_limits: PluginLimits::default(),
            compile: CompileOptions::default(),
            memory_budget_bytes: None,
            plugin_pool_share_percent: 50,
        }
    }
}

/// The totals of the instance pool: component instances, and the core instances,
/// memories and tables of them all. A Rust component has a few core instances and one
/// memory; interpreters bundled as components (Python, JavaScript) have more. Each
/// total holds at least one instantiation at the per-component bounds, so that every
/// plugin that loads can run.
pub fn pool_totals(options: &EngineOptions) -> (u32, PoolNeeds) {
    let runs = options.max_concurrent_runs;
    let limits = &options.plugin_limits;
    let totals = PoolNeeds {
        core_instances: runs.saturating_mul(8).max(limits.max_core_instances),
        memories: runs.saturating_mul(2).max(limits.max_memories),
        tables: runs.saturating_mul(8).max(limits.max_tables),
    };
    (runs, totals)
}

/// The engine's configuration: component model, epoch interruption, the pooling
/// allocator. The server's engine and the compiler process's are built from it, so
/// the compiler's artifacts load in the server.
pub fn config(options: &EngineOptions) -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(options.fuel_metering);
    let (runs, totals) = pool_totals(options);
    let limits = &options.plugin_limits;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(runs)
        .total_core_instances(totals.core_instances)
        .total_memories(totals.memories)
        .total_tables(totals.tables)
        .total_stacks(runs)
        .max_memories_per_component(limits.max_memories)
        .max_core_instances_per_component(limits.max_core_instances)
        .max_tables_per_component(limits.max_tables)
        .max_memory_size(options.max_memory_bytes)
        // Reset the first MiB of a slot's memory and tables by writing zeros instead of
        // returning the pages to the kernel: a small job touches little memory, and
        // every madvise made all cores flush their TLBs (inter-processor interrupts
        // showed up in the profile of a busy host).
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// Builds the engine ([`config`]) and starts its epoch ticker.
pub fn build(options: &EngineOptions) -> wasmtime::Result<Engine> {
    let engine = Engine::new(&config(options))?;
    start_epoch_ticker(&engine);
    Ok(engine)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a thread of its own. The thread
/// holds only a weak reference and ends when the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasmcron-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread at start-up");
}

/// A short key that changes whenever precompiled artifacts of one engine would not
/// load in another (wasmtime version, settings, CPU features).
pub fn fingerprint(engine: &Engine) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}
