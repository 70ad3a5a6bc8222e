// Package runtime holds the memory helpers the generated bindings call, and the
// `cabi_realloc` export through which the host allocates the arguments it passes in.
package runtime

import (
	"runtime"
	"unsafe"
)

// Allocate returns size bytes aligned to align (1, 2, 4 or 8) from the Go heap, pinned
// with pinner so the collector leaves them where the host can see them.
func Allocate(pinner *runtime.Pinner, size, align uintptr) unsafe.Pointer {
	if size == 0 {
		return nil
	}
	var pointer unsafe.Pointer
	switch align {
	case 1:
		pointer = unsafe.Pointer(unsafe.SliceData(make([]uint8, size)))
	case 2:
		pointer = unsafe.Pointer(unsafe.SliceData(make([]uint16, (size+1)/2)))
	case 4:
		pointer = unsafe.Pointer(unsafe.SliceData(make([]uint32, (size+3)/4)))
	case 8:
		pointer = unsafe.Pointer(unsafe.SliceData(make([]uint64, (size+7)/8)))
	default:
		panic("cabi_realloc: unsupported alignment")
	}
	pinner.Pin(pointer)
	return pointer
}

// What cabi_realloc handed out for the arguments of the current export call.
var pinner = runtime.Pinner{}

// Unpin releases the arguments' memory once an export has copied them into Go values.
func Unpin() {
	pinner.Unpin()
}

// procPin/procUnpin keep the collector from starting while the host is inside
// cabi_realloc: a GC cycle may call WASI imports, which the component model forbids there.
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// cabiRealloc is called by the host to place an export's arguments in linear memory. It
// only serves fresh allocations. It needs the Go runtime to be initialised: the component
// is made with `--realloc-via-memory-grow` so that the WASI adapter never calls it earlier.
//
//go:wasmexport cabi_realloc
func cabiRealloc(oldPointer unsafe.Pointer, oldSize, align, newSize uintptr) unsafe.Pointer {
	if oldPointer != nil || oldSize != 0 {
		panic("cabi_realloc: reallocation is not supported")
	}
	procPin()
	pointer := Allocate(&pinner, newSize, align)
	procUnpin()
	return pointer
}
