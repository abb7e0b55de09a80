package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
)

// `eventops broker --num-brokers 3` runs three brokers in one process, each
// on a port of its own choosing that it reports, and creates every topic on
// them with a replica on each; `eventops topics` asked for another
// replication says how the topics differ.
func TestBrokerProcessWithThreeBrokers(t *testing.T) {
	t.Parallel()
	p := startEventops(t, nil, "broker", "--num-brokers", "3", "--data-dir", t.TempDir(), "--kafka-addr", "127.0.0.1:0")
	if len(p.Kafka) != 3 {
		t.Fatalf("the broker reported %v, want three addresses", p.Kafka)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	eventually(t, 30*time.Second, "three brokers and every topic, replicated three times", func() error {
		md, err := adm.Metadata(ctx)
		if err != nil {
			return err
		}
		var addrs []string
		for _, b := range md.Brokers {
			addrs = append(addrs, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
		}
		slices.Sort(addrs)
		if want := slices.Sorted(slices.Values(p.Kafka)); !slices.Equal(addrs, want) {
			return fmt.Errorf("brokers %v, reported %v", addrs, want)
		}
		for _, spec := range tables.DefaultLayout().Topics() {
			td, ok := md.Topics[spec.Name]
			if !ok || len(td.Partitions) != int(spec.Partitions) {
				return fmt.Errorf("topic %s: %v", spec.Name, ok)
			}
			if r := len(td.Partitions[0].Replicas); r != 3 {
				return fmt.Errorf("topic %s has %d replicas", spec.Name, r)
			}
		}
		return nil
	})
	var out, errs strings.Builder
	if code := realMain([]string{"topics", "--brokers", strings.Join(p.Kafka, ","), "--replication", "2"}, &out, &errs); code != 0 {
		t.Fatalf("topics exited %d: %s", code, errs.String())
	}
	if n := strings.Count(errs.String(), "has replication 3, want 2"); n != len(tables.DefaultLayout().Topics()) {
		t.Fatalf("topics reported the replication of %d topics:\n%s", n, errs.String())
	}
	// --brokers lists addresses everywhere: the broker command has no such flag.
	if code := realMain([]string{"broker", "--brokers", "3"}, &out, &errs); code != 2 {
		t.Fatalf("broker --brokers 3 exited %d", code)
	}
	p.stop(30 * time.Second)
}
