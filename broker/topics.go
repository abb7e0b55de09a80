package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/eventops/eventops/tables"
)

// TopicReport says what EnsureTopics found or did for one topic.
type TopicReport struct {
	Spec    tables.TopicSpec
	Created bool
	// Replication is the topic's replication factor.
	Replication int16
	// Mismatch describes how an existing topic differs from its spec.
	Mismatch string
}

// AutoReplication is the replication factor for topics on the cluster of
// brokers: one replica on each broker, at most three.
func AutoReplication(ctx context.Context, brokers []string) (int16, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return 0, fmt.Errorf("topics: %w", err)
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return 0, fmt.Errorf("topics: list the brokers: %w", err)
	}
	return int16(min(max(len(md.Brokers), 1), 3)), nil
}

// EnsureTopics creates every topic of layout that is missing, with
// replication replicas. It never deletes, repartitions or re-replicates:
// an existing topic that differs is reported.
func EnsureTopics(ctx context.Context, brokers []string, layout tables.Layout, replication int16) ([]TopicReport, error) {
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, fmt.Errorf("topics: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	specs := layout.Topics()
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	existing, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("topics: list: %w", err)
	}
	var reports []TopicReport
	for _, spec := range specs {
		rep := TopicReport{Spec: spec, Replication: replication}
		if d, ok := existing[spec.Name]; ok && d.Err == nil {
			var diffs []string
			if got := int32(len(d.Partitions)); got != spec.Partitions {
				diffs = append(diffs, fmt.Sprintf("has %d partitions, want %d", got, spec.Partitions))
			}
			if p, ok := d.Partitions[0]; ok {
				rep.Replication = int16(len(p.Replicas))
				if rep.Replication != replication {
					diffs = append(diffs, fmt.Sprintf("has replication %d, want %d", rep.Replication, replication))
				}
			}
			rep.Mismatch = strings.Join(diffs, "; ")
			reports = append(reports, rep)
			continue
		}
		configs := map[string]*string{}
		for k, v := range spec.Configs {
			configs[k] = kadm.StringPtr(v)
		}
		resp, err := adm.CreateTopic(ctx, spec.Partitions, replication, configs, spec.Name)
		if err == nil {
			err = resp.Err
		}
		// Replicas starting together race to create: losing is fine.
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return reports, fmt.Errorf("topics: create %s: %w", spec.Name, err)
		}
		rep.Created = err == nil
		reports = append(reports, rep)
	}
	// Check the configs of what already existed that decide what its
	// records mean.
	rcs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err == nil {
		for i := range reports {
			if reports[i].Created {
				continue
			}
			rc, err := rcs.On(reports[i].Spec.Name, nil)
			if err != nil || rc.Err != nil {
				continue
			}
			for _, c := range rc.Configs {
				want, checked := reports[i].Spec.Configs[c.Key]
				if !checked || !checkedConfigs[c.Key] || c.Value == nil || *c.Value == want {
					continue
				}
				if reports[i].Mismatch != "" {
					reports[i].Mismatch += "; "
				}
				reports[i].Mismatch += fmt.Sprintf("%s is %s, want %s", c.Key, *c.Value, want)
			}
		}
	}
	return reports, nil
}

// checkedConfigs are the configs an existing topic is reported for when they
// differ from its spec: the cleanup policy (a stream compacted, or a table
// deleted, loses records) and the timestamp type (the ingest stage judges
// event times against the broker's timestamp of a raw record).
var checkedConfigs = map[string]bool{"cleanup.policy": true, "message.timestamp.type": true}

// MaxMessageBytes returns the largest record batch the brokers accept on
// topic: its max.message.bytes when the topic sets one, the brokers'
// message.max.bytes otherwise.
func MaxMessageBytes(ctx context.Context, brokers []string, topic string) (int, error) {
	return BatchLimit(ctx, brokers, topic)
}

// BatchLimit returns the largest record batch the brokers accept on every
// one of topics: the smallest max.message.bytes the topics set, or the
// brokers' message.max.bytes for those that set none (with no topics, the
// brokers').
func BatchLimit(ctx context.Context, brokers []string, topics ...string) (int, error) {
	fail := func(err error) (int, error) { return 0, fmt.Errorf("max.message.bytes of %v: %w", topics, err) }
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fail(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	limit, inherit := 0, len(topics) == 0
	if len(topics) > 0 {
		rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
		if err != nil {
			return fail(err)
		}
		for _, t := range topics {
			n, ok, err := configInt(rcs, t, "max.message.bytes", kmsg.ConfigSourceDynamicTopicConfig)
			switch {
			case err != nil:
				return fail(err)
			case ok:
				limit = smaller(limit, n)
			default:
				inherit = true
			}
		}
	}
	if inherit {
		bcs, err := adm.DescribeBrokerConfigs(ctx)
		if err != nil {
			return fail(err)
		}
		found := false
		for _, rc := range bcs {
			for _, c := range rc.Configs {
				var n int
				if c.Key == "message.max.bytes" && c.Value != nil {
					if _, err := fmt.Sscan(*c.Value, &n); err == nil && n > 0 {
						limit, found = smaller(limit, n), true
					}
				}
			}
		}
		if !found {
			return fail(errors.New("the brokers did not say"))
		}
	}
	return limit, nil
}

// smaller is the smaller of two limits, 0 meaning none yet.
func smaller(a, b int) int {
	if a == 0 || b < a {
		return b
	}
	return a
}

// configInt reads an integer config of a resource, if it comes from src.
func configInt(rcs kadm.ResourceConfigs, name, key string, src kmsg.ConfigSource) (int, bool, error) {
	rc, err := rcs.On(name, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return 0, false, fmt.Errorf("%s of %s: %w", key, name, err)
	}
	for _, c := range rc.Configs {
		var n int
		if c.Key == key && c.Value != nil && c.Source == src {
			if _, err := fmt.Sscan(*c.Value, &n); err == nil && n > 0 {
				return n, true, nil
			}
		}
	}
	return 0, false, nil
}
