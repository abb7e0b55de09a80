package processors

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables/kgotables"
)

// NewProducer builds a franz-go producer of a stage: the project's
// partitioner, no linger, and record batches no larger than the brokers
// take (BatchBytes), so that a burst, or a backlog written again after a
// refusal, is split into batches the brokers accept. name tells it apart
// from the replica's other producers; opts come last.
func (k Kafka) NewProducer(name string, opts ...kgo.Opt) (*kgo.Client, error) {
	k = k.Defaults()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(k.Brokers...),
		kgo.ClientID(k.ClientID + "-" + name),
		kgo.RecordPartitioner(kgotables.Partitioner()),
		kgo.ProducerBatchMaxBytes(int32(k.BatchBytes)),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(100_000),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("%s producer: %w", name, err)
	}
	return cl, nil
}
