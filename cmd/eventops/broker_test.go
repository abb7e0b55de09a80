package main

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
)

// `eventops broker --brokers 3` runs three brokers in one process and
// creates every topic on them.
func TestBrokerProcessWithThreeBrokers(t *testing.T) {
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := startEventops(t, nil, "", "broker", "--brokers", "3", "--data-dir", t.TempDir(), "--kafka-addr", addr, "--replication", "3")
	eventually(t, 30*time.Second, "the broker listens", func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
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
		if len(md.Brokers) != 3 {
			return fmt.Errorf("%d brokers", len(md.Brokers))
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
	p.stop(30 * time.Second)
}
