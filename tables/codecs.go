package tables

import (
	"fmt"
)

// SignalCodec is the goka codec of signals.metric.v1.
type SignalCodec struct{}

// Encode implements goka.Codec.
func (SignalCodec) Encode(v any) ([]byte, error) {
	s, ok := v.(*Signal)
	if !ok {
		return nil, fmt.Errorf("signal codec: cannot encode %T", v)
	}
	return s.AppendBinary(make([]byte, 0, 64+48*len(s.Samples))), nil
}

// Decode implements goka.Codec.
func (SignalCodec) Decode(data []byte) (any, error) { return DecodeSignal(data) }

// BytesCodec passes values through untouched. Stages whose input is not
// trusted use it and decode inside the callback, because goka stops a
// processor when its codec fails.
type BytesCodec struct{}

// Encode implements goka.Codec.
func (BytesCodec) Encode(v any) ([]byte, error) {
	switch b := v.(type) {
	case []byte:
		return b, nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("bytes codec: cannot encode %T", v)
	}
}

// Decode implements goka.Codec. goka reuses no buffers, so the slice is kept.
func (BytesCodec) Decode(data []byte) (any, error) { return data, nil }
