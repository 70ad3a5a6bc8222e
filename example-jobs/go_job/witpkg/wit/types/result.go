// Package types holds the Go forms of WIT types the generated bindings use: result<T, E>
// and option<T>.
package types

// The tags of a Result.
const (
	ResultOk  uint8 = 0
	ResultErr uint8 = 1
)

// Result is a WIT result<T, E>: either an ok value or an error value.
type Result[T any, E any] struct {
	tag uint8
	ok  T
	err E
}

// Ok makes the ok case.
func Ok[T any, E any](value T) Result[T, E] {
	return Result[T, E]{tag: ResultOk, ok: value}
}

// Err makes the error case.
func Err[T any, E any](value E) Result[T, E] {
	return Result[T, E]{tag: ResultErr, err: value}
}

// Tag says which case this is: ResultOk or ResultErr.
func (r Result[T, E]) Tag() uint8 { return r.tag }

// Ok is the ok value; it panics on the error case.
func (r Result[T, E]) Ok() T {
	if r.tag != ResultOk {
		panic("Ok() on an error result")
	}
	return r.ok
}

// Err is the error value; it panics on the ok case.
func (r Result[T, E]) Err() E {
	if r.tag != ResultErr {
		panic("Err() on an ok result")
	}
	return r.err
}
