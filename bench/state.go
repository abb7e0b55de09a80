package bench

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TableSize reads a table's changelog topic up to its end at the time of
// the call and returns how many of the keys that count it holds and the
// bytes of their latest values (a tombstone removes its key): what the
// table stores of them.
func TableSize(ctx context.Context, brokers []string, topic string, count func(key []byte) bool) (keys int, bytes int64, err error) {
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return 0, 0, err
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	adm.Close()
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("table %s: %w", topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	sizes := map[string]int{}
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		if err := fs.Err0(); err != nil {
			return 0, 0, fmt.Errorf("table %s: %w", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset < end {
				switch {
				case !count(r.Key):
				case r.Value == nil:
					delete(sizes, string(r.Key))
				default:
					sizes[string(r.Key)] = len(r.Value)
				}
				if r.Offset == end-1 {
					delete(want, r.Partition)
				}
			}
		})
	}
	for _, n := range sizes {
		bytes += int64(n)
	}
	return len(sizes), bytes, nil
}
