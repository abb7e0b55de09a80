package gokatables

import (
	"fmt"

	"github.com/lovoo/goka"
)

// BytesCodec passes values through untouched. Every stage reads with it and
// decodes inside its callback, because goka stops a processor when its codec
// fails: an input that does not decode goes to the DLQ instead.
type BytesCodec struct{}

var _ goka.Codec = BytesCodec{}

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
