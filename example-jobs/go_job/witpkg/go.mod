// A local stand-in for the parts of go.bytecodealliance.org/pkg that the code generated
// by `wit-bindgen go` for the wasmcron `job` world uses (wit/types, wit/runtime).
module go.bytecodealliance.org/pkg

go 1.25
