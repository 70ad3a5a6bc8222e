// The module the generated bindings belong to (they import "wit_component/...").
// build.sh puts this file, export_wit_world/ and witpkg/ next to the generated code in
// target/guests/go_job/src and builds there.
module wit_component

go 1.25

require go.bytecodealliance.org/pkg v0.4.0

// The generated code needs go.bytecodealliance.org/pkg, which cannot be downloaded here
// (no Go module proxy): witpkg/ is a small local stand-in with the few names it uses.
// With a working proxy, drop this line (and witpkg/) and run `go mod tidy`.
replace go.bytecodealliance.org/pkg => ./witpkg
