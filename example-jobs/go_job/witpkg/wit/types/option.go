package types

// The tags of an Option.
const (
	OptionNone uint8 = 0
	OptionSome uint8 = 1
)

// Option is a WIT option<T>: a value or none. Its zero value is none.
type Option[T any] struct {
	tag   uint8
	value T
}

// Some makes an option holding value.
func Some[T any](value T) Option[T] {
	return Option[T]{tag: OptionSome, value: value}
}

// None makes an empty option.
func None[T any]() Option[T] {
	return Option[T]{tag: OptionNone}
}

// Tag says which case this is: OptionNone or OptionSome.
func (o Option[T]) Tag() uint8 { return o.tag }

// IsSome says whether the option holds a value.
func (o Option[T]) IsSome() bool { return o.tag == OptionSome }

// IsNone says whether the option is empty.
func (o Option[T]) IsNone() bool { return o.tag == OptionNone }

// Some is the value; it panics on none.
func (o Option[T]) Some() T {
	if o.tag != OptionSome {
		panic("Some() on an empty option")
	}
	return o.value
}

// SomeOr is the value, or fallback on none.
func (o Option[T]) SomeOr(fallback T) T {
	if o.tag != OptionSome {
		return fallback
	}
	return o.value
}
