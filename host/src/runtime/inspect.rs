//! What a plugin will cost, read from its bytes before anything is compiled: the
//! instance-pool slots one instantiation takes (core instances, memories, tables) and
//! the size of its code (functions per module, locals per function, code bytes).
//!
//! Compiling is the expensive step of a load (seconds for an interpreter bundled as a
//! component, minutes for a hostile function with tens of thousands of locals), so a
//! plugin over a bound is refused by this pass, which only reads section headers and
//! each function's local declarations: milliseconds for an 18 MB component.
//!
//! The pool counts are what wasmtime's pooling allocator takes per instantiation: one
//! core instance per core module instantiated (a nested component counts as often as
//! it is instantiated), the memories and tables those modules define (imported ones
//! are someone else's). A module or component whose definition this pass cannot see
//! (imported, or taken from an instance's exports) counts as one core instance with no
//! memory or table; wasmtime's own count of memories and tables, known after the
//! compile, is taken as well ([`PoolNeeds::max`]).

use super::plugin::LoadError;
use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind,
    ComponentTypeRef, Encoding, Instance, Parser, Payload,
};

/// The pool slots one instantiation of a plugin takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolNeeds {
    /// Core module instances.
    pub core_instances: u32,
    /// Linear memories defined by those instances.
    pub memories: u32,
    /// Tables defined by those instances.
    pub tables: u32,
}

impl PoolNeeds {
    fn add(&mut self, other: PoolNeeds) {
        self.core_instances = self.core_instances.saturating_add(other.core_instances);
        self.memories = self.memories.saturating_add(other.memories);
        self.tables = self.tables.saturating_add(other.tables);
    }

    /// The larger of each count.
    pub fn max(self, other: PoolNeeds) -> PoolNeeds {
        PoolNeeds {
            core_instances: self.core_instances.max(other.core_instances),
            memories: self.memories.max(other.memories),
            tables: self.tables.max(other.tables),
        }
    }

    /// The counts as kept beside a cached artifact (`core_instances memories tables`),
    /// so that loading the artifact need not read the plugin's bytes again.
    pub fn to_record(self) -> String {
        format!(
            "{} {} {}\n",
            self.core_instances, self.memories, self.tables
        )
    }

    /// The counts from [`PoolNeeds::to_record`]'s text; `None` if it is not that.
    pub fn from_record(text: &str) -> Option<PoolNeeds> {
        let mut counts = text.split_ascii_whitespace().map(str::parse::<u32>);
        let needs = PoolNeeds {
            core_instances: counts.next()?.ok()?,
            memories: counts.next()?.ok()?,
            tables: counts.next()?.ok()?,
        };
        counts.next().is_none().then_some(needs)
    }
}

/// The bounds a plugin's structure must keep, each set by the flag named in its
/// error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Core instances one instantiation takes (`--max-core-instances-per-component`).
    pub max_core_instances: u32,
    /// Memories one instantiation defines (`--max-memories-per-component`).
    pub max_memories: u32,
    /// Tables one instantiation defines (`--max-tables-per-component`).
    pub max_tables: u32,
    /// Functions defined by one core module (`--max-functions-per-module`).
    pub max_functions: u32,
    /// Locals declared by one function (`--max-locals-per-function`).
    pub max_locals: u32,
    /// Bytes of all function bodies together (`--max-code-bytes`).
    pub max_code_bytes: u64,
}

impl Default for PluginLimits {
    /// Every example plugin passes these with room to spare: the Python component
    /// (an interpreter, 19 MB) takes 14 core instances, one memory and two tables, and
    /// has 10,625 functions in its largest module, 271 locals in its largest function
    /// and 6.6 MB of code; the JavaScript one 12,619 functions and 9.2 MB of code.
    /// Compiling a function grows faster than its locals: 2,000 used locals took ~1 s,
    /// 5,000 took ~10 s, 8,000 took ~40 s (the deadline bounds what is left).
    fn default() -> Self {
        PluginLimits {
            max_core_instances: 32,
            max_memories: 4,
            max_tables: 32,
            max_functions: 50_000,
            max_locals: 2_000,
            max_code_bytes: 32 << 20,
        }
    }
}

/// What a component or module is known to cost while the bytes are read.
enum Frame {
    Module(ModuleFrame),
    Component(ComponentFrame),
}

#[derive(Default)]
struct ModuleFrame {
    memories: u32,
    tables: u32,
    functions: u32,
}

/// A component's index spaces of modules and components (what instantiating each
/// costs), and what its own instantiations cost so far.
#[derive(Default)]
struct ComponentFrame {
    modules: Vec<PoolNeeds>,
    components: Vec<PoolNeeds>,
    needs: PoolNeeds,
}

/// One instance of a module or component this pass cannot see into.
const UNSEEN_MODULE: PoolNeeds = PoolNeeds {
    core_instances: 1,
    memories: 0,
    tables: 0,
};

fn invalid(e: impl std::fmt::Display) -> LoadError {
    LoadError::Invalid(e.to_string())
}

fn over(what: String) -> LoadError {
    LoadError::OverLimit(what)
}

/// Reads `wasm` (a component or a core module) and returns what one instantiation of
/// it takes from the pool, or the first bound of `limits` it exceeds.
///
/// # Errors
/// [`LoadError::OverLimit`] naming the bound and its flag; [`LoadError::Invalid`] for
/// bytes that do not parse.
pub fn inspect(wasm: &[u8], limits: &PluginLimits) -> Result<PoolNeeds, LoadError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut code_bytes: u64 = 0;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(invalid)? {
            Payload::Version { encoding, .. } => stack.push(match encoding {
                Encoding::Module => Frame::Module(ModuleFrame::default()),
                Encoding::Component => Frame::Component(ComponentFrame::default()),
            }),
            Payload::FunctionSection(reader) => {
                let module = module_frame(&mut stack)?;
                module.functions = module.functions.saturating_add(reader.count());
                if module.functions > limits.max_functions {
                    return Err(over(format!(
                        "a core module defines {} functions, over the limit of {} \
                         (--max-functions-per-module)",
                        module.functions, limits.max_functions
                    )));
                }
            }
            Payload::MemorySection(reader) => {
                let module = module_frame(&mut stack)?;
                module.memories = module.memories.saturating_add(reader.count());
            }
            Payload::TableSection(reader) => {
                let module = module_frame(&mut stack)?;
                module.tables = module.tables.saturating_add(reader.count());
            }
            Payload::CodeSectionStart { size, .. } => {
                code_bytes = code_bytes.saturating_add(u64::from(size));
                if code_bytes > limits.max_code_bytes {
                    return Err(over(format!(
                        "its function bodies take {code_bytes} bytes or more, over the \
                         limit of {} (--max-code-bytes)",
                        limits.max_code_bytes
                    )));
                }
            }
            Payload::CodeSectionEntry(body) => {
                let mut locals = body.get_locals_reader().map_err(invalid)?;
                let mut declared: u32 = 0;
                for _ in 0..locals.get_count() {
                    let (count, _) = locals.read().map_err(invalid)?;
                    declared = declared.saturating_add(count);
                    if declared > limits.max_locals {
                        return Err(over(format!(
                            "a function declares {declared} locals or more, over the limit \
                             of {} (--max-locals-per-function)",
                            limits.max_locals
                        )));
                    }
                }
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => {
                // The nested module or component follows, from its own `Version`.
            }
            Payload::InstanceSection(reader) => {
                let component = component_frame(&mut stack)?;
                for instance in reader {
                    if let Instance::Instantiate { module_index, .. } = instance.map_err(invalid)? {
                        let cost = nth(&component.modules, module_index, "module")?;
                        component.needs.add(cost);
                    }
                }
            }
            Payload::ComponentInstanceSection(reader) => {
                let component = component_frame(&mut stack)?;
                for instance in reader {
                    if let ComponentInstance::Instantiate {
                        component_index, ..
                    } = instance.map_err(invalid)?
                    {
                        let cost = nth(&component.components, component_index, "component")?;
                        component.needs.add(cost);
                    }
                }
            }
            Payload::ComponentAliasSection(reader) => {
                for alias in reader {
                    alias_item(&mut stack, alias.map_err(invalid)?)?;
                }
            }
            Payload::ComponentImportSection(reader) => {
                let component = component_frame(&mut stack)?;
                for import in reader {
                    match import.map_err(invalid)?.ty {
                        ComponentTypeRef::Module(_) => component.modules.push(UNSEEN_MODULE),
                        ComponentTypeRef::Component(_) => {
                            component.components.push(PoolNeeds::default());
                        }
                        _ => {}
                    }
                }
            }
            Payload::ComponentExportSection(reader) => {
                // An export is a new index of the item it exports.
                let component = component_frame(&mut stack)?;
                for export in reader {
                    let export = export.map_err(invalid)?;
                    match export.kind {
                        ComponentExternalKind::Module => {
                            let cost = nth(&component.modules, export.index, "module")?;
                            component.modules.push(cost);
                        }
                        ComponentExternalKind::Component => {
                            let cost = nth(&component.components, export.index, "component")?;
                            component.components.push(cost);
                        }
                        _ => {}
                    }
                }
            }
            Payload::End(_) => {
                let ended = stack.pop();
                let (cost, is_module) = match ended {
                    Some(Frame::Module(module)) => (
                        PoolNeeds {
                            core_instances: 1,
                            memories: module.memories,
                            tables: module.tables,
                        },
                        true,
                    ),
                    Some(Frame::Component(component)) => (component.needs, false),
                    None => return Err(invalid("unbalanced module or component ends")),
                };
                match stack.last_mut() {
                    None => {
                        check_pool_limits(cost, limits)?;
                        return Ok(cost);
                    }
                    Some(Frame::Component(parent)) if is_module => parent.modules.push(cost),
                    Some(Frame::Component(parent)) => parent.components.push(cost),
                    Some(Frame::Module(_)) => {
                        return Err(invalid("a core module cannot nest another"));
                    }
                }
            }
            _ => {}
        }
    }
    Err(invalid("the file ends before its last section"))
}

fn module_frame(stack: &mut [Frame]) -> Result<&mut ModuleFrame, LoadError> {
    match stack.last_mut() {
        Some(Frame::Module(module)) => Ok(module),
        _ => Err(invalid("a core module section outside a core module")),
    }
}

fn component_frame(stack: &mut [Frame]) -> Result<&mut ComponentFrame, LoadError> {
    match stack.last_mut() {
        Some(Frame::Component(component)) => Ok(component),
        _ => Err(invalid("a component section outside a component")),
    }
}

fn nth(costs: &[PoolNeeds], index: u32, what: &str) -> Result<PoolNeeds, LoadError> {
    usize::try_from(index)
        .ok()
        .and_then(|i| costs.get(i).copied())
        .ok_or_else(|| invalid(format!("{what} index {index} is out of bounds")))
}

/// Adds what an alias names to the current component's index spaces: an outer alias
/// refers to an enclosing component's module or component, an instance's export to
/// one this pass cannot see.
fn alias_item(stack: &mut [Frame], alias: ComponentAlias<'_>) -> Result<(), LoadError> {
    let item = match alias {
        ComponentAlias::Outer { kind, count, index } => {
            let modules = match kind {
                ComponentOuterAliasKind::CoreModule => true,
                ComponentOuterAliasKind::Component => false,
                _ => return Ok(()),
            };
            let depth = usize::try_from(count).map_err(invalid)?;
            let outer = stack
                .len()
                .checked_sub(1 + depth)
                .and_then(|i| match &stack[i] {
                    Frame::Component(outer) => Some(outer),
                    Frame::Module(_) => None,
                })
                .ok_or_else(|| invalid(format!("outer alias count {count} is out of bounds")))?;
            if modules {
                (true, nth(&outer.modules, index, "module")?)
            } else {
                (false, nth(&outer.components, index, "component")?)
            }
        }
        ComponentAlias::InstanceExport {
            kind: ComponentExternalKind::Module,
            ..
        } => (true, UNSEEN_MODULE),
        ComponentAlias::InstanceExport {
            kind: ComponentExternalKind::Component,
            ..
        } => (false, PoolNeeds::default()),
        _ => return Ok(()),
    };
    let component = component_frame(stack)?;
    match item {
        (true, cost) => component.modules.push(cost),
        (false, cost) => component.components.push(cost),
    }
    Ok(())
}

/// The pool bounds of one instantiation, checked once its cost is known (also by the
/// caller with wasmtime's own count after compiling).
pub fn check_pool_limits(needs: PoolNeeds, limits: &PluginLimits) -> Result<(), LoadError> {
    let bounds = [
        (
            needs.core_instances,
            limits.max_core_instances,
            "core instances",
            "--max-core-instances-per-component",
        ),
        (
            needs.memories,
            limits.max_memories,
            "memories",
            "--max-memories-per-component",
        ),
        (
            needs.tables,
            limits.max_tables,
            "tables",
            "--max-tables-per-component",
        ),
    ];
    for (count, max, what, flag) in bounds {
        if count > max {
            return Err(over(format!(
                "one instantiation takes {count} {what}, over the limit of {max} ({flag})"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(wat: &str) -> Result<PoolNeeds, LoadError> {
        inspect(&wat::parse_str(wat).unwrap(), &PluginLimits::default())
    }

    #[test]
    fn the_record_kept_beside_an_artifact_reads_back_and_refuses_anything_else() {
        let needs = PoolNeeds {
            core_instances: 14,
            memories: 1,
            tables: 2,
        };
        assert_eq!(needs.to_record(), "14 1 2\n");
        assert_eq!(PoolNeeds::from_record(&needs.to_record()), Some(needs));
        for bad in [
            "",
            "14 1",
            "14 1 2 3",
            "14 one 2",
            "-1 1 2",
            "99999999999 1 2",
        ] {
            assert_eq!(PoolNeeds::from_record(bad), None, "{bad:?}");
        }
    }

    fn refusal(wat: &str, limits: &PluginLimits) -> String {
        match inspect(&wat::parse_str(wat).unwrap(), limits) {
            Err(LoadError::OverLimit(why)) => why,
            other => panic!("expected OverLimit, got {other:?}"),
        }
    }

    #[test]
    fn a_core_module_is_one_instance_of_its_own_memories_and_tables() {
        let module = r#"(module (import "a" "m" (memory 1)) (memory 1) (table 1 funcref))"#;
        let expected = PoolNeeds {
            core_instances: 1,
            memories: 1,
            tables: 1,
        };
        assert_eq!(needs(module).unwrap(), expected);
    }

    #[test]
    fn a_component_counts_each_instantiation_nested_ones_as_often_as_they_happen() {
        let component = r#"(component
            (core module $m (memory 1) (table 1 funcref))
            (core module $empty)
            (core instance (instantiate $m))
            (core instance (instantiate $empty))
            (core instance (instantiate $empty))
            (component $inner
                (core module $n (memory 1))
                (core instance (instantiate $n))
                (alias outer 1 $empty (core module $e))
                (core instance (instantiate $e))
            )
            (instance (instantiate $inner))
            (instance (instantiate $inner))
        )"#;
        let expected = PoolNeeds {
            core_instances: 3 + 2 * 2,
            memories: 1 + 2,
            tables: 1,
        };
        assert_eq!(needs(component).unwrap(), expected);
    }

    #[test]
    fn bounds_are_refused_naming_their_flag() {
        let many = format!(
            "(component (core module $e) {})",
            "(core instance (instantiate $e))".repeat(33)
        );
        let why = refusal(&many, &PluginLimits::default());
        assert_eq!(
            why,
            "one instantiation takes 33 core instances, over the limit of 32 \
             (--max-core-instances-per-component)"
        );
        let limits = PluginLimits {
            max_functions: 2,
            max_locals: 10,
            max_code_bytes: 100,
            ..PluginLimits::default()
        };
        let functions = "(module (func) (func) (func))";
        assert!(
            refusal(functions, &limits)
                .contains("3 functions, over the limit of 2 (--max-functions-per-module)")
        );
        let locals = "(module (func (local i32 i32 i32 i32 i32 i32) (local i64 i64 i64 i64 i64)))";
        assert!(
            refusal(locals, &limits)
                .contains("11 locals or more, over the limit of 10 (--max-locals-per-function)")
        );
        let code = format!("(module (func {}))", "(nop)".repeat(200));
        assert!(refusal(&code, &limits).contains("(--max-code-bytes)"));
        let memories = "(component (core module $m (memory 1) (memory 1) (memory 1) (memory 1) (memory 1)) (core instance (instantiate $m)))";
        assert!(
            refusal(memories, &PluginLimits::default())
                .contains("5 memories, over the limit of 4 (--max-memories-per-component)")
        );
    }

    #[test]
    fn garbage_is_invalid_not_a_panic() {
        let mut truncated = wat::parse_str("(module (func) (func))").unwrap();
        truncated.truncate(truncated.len() - 3);
        assert!(matches!(
            inspect(&truncated, &PluginLimits::default()),
            Err(LoadError::Invalid(_))
        ));
    }
}
