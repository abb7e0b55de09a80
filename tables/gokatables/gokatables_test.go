package gokatables_test

import (
	"fmt"
	"testing"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/eventops/eventops/tables"
	"github.com/eventops/eventops/tables/gokatables"
)

// The features table is the one goka derives from the group, under the
// name tables gives the topic creator.
func TestFeaturesTableIsTheGroupTable(t *testing.T) {
	if gokatables.FeaturesTable != goka.GroupTable(gokatables.FeaturesGroup) || string(gokatables.FeaturesTable) != tables.FeaturesTable {
		t.Fatalf("%s, goka %s", gokatables.FeaturesTable, goka.GroupTable(gokatables.FeaturesGroup))
	}
	found := false
	for _, spec := range tables.DefaultLayout().Topics() {
		found = found || spec.Name == string(gokatables.FeaturesTable) && spec.Cleanup() == tables.CleanupCompact
	}
	if !found {
		t.Fatal("the features table is not among the topics, compacted")
	}
}

// tables.Partition places a key where goka's producers (sarama with goka's
// default hasher) place it.
func TestPartitionIsGokas(t *testing.T) {
	p := sarama.NewCustomHashPartitioner(goka.DefaultHasher())(tables.SignalsTopic)
	for i := range 2000 {
		key := tables.SourceKey(fmt.Sprintf("tenant-%d", i%7), fmt.Sprintf("host-%d-%c", i, rune(i)))
		for _, n := range []int32{1, 3, 12, 64} {
			got, err := p.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, n)
			if err != nil || got != tables.Partition(key, n) {
				t.Fatalf("key %q of %d partitions: goka %d (%v), tables %d", key, n, got, err, tables.Partition(key, n))
			}
		}
	}
}

func TestBytesCodec(t *testing.T) {
	var c gokatables.BytesCodec
	if b, err := c.Encode([]byte("x")); err != nil || string(b) != "x" {
		t.Fatal(b, err)
	}
	if b, err := c.Encode(nil); err != nil || b != nil {
		t.Fatal(b, err)
	}
	if _, err := c.Encode("x"); err == nil {
		t.Fatal("a string encodes")
	}
	if v, err := c.Decode([]byte("y")); err != nil || string(v.([]byte)) != "y" {
		t.Fatal(v, err)
	}
}
