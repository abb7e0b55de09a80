package chaos

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventops/eventops/tables"
)

// poisonRecord is one bad record and the reason the DLQ must give.
type poisonRecord struct {
	value  []byte
	reason string
}

// poisonBurst is the bad input the issue lists: not JSON, wrong types,
// 10 MiB, invalid UTF-8, NaN/Inf, timestamps far in the future, 1,000 tags,
// 100 kB strings, and a line of an event cut into lines.
func poisonBurst() []poisonRecord {
	var tags strings.Builder
	tags.WriteString(`{"tenant_id":"poison","host":"h","metric":"m","value":1,"tags":{`)
	for i := 0; i < 1000; i++ {
		if i > 0 {
			tags.WriteByte(',')
		}
		fmt.Fprintf(&tags, `"k%d":"v"`, i)
	}
	tags.WriteString(`}}`)
	return []poisonRecord{
		{[]byte(`this is { not json`), "invalid_json"},
		{[]byte(`{"tenant_id":"poison","host":"h","metric":"m","value":"seven"}`), "wrong_type"},
		{[]byte(`{"tenant_id":["poison"],"host":"h","metric":"m","value":1}`), "wrong_type"},
		{[]byte(`{"tenant_id":"poison","host":"h","metric":"m","value":1,"pad":"` + strings.Repeat("x", 10<<20) + `"}`), "too_large"},
		{[]byte("{\"tenant_id\":\"poison\",\"host\":\"h\xff\xfe\",\"metric\":\"m\",\"value\":1}"), "invalid_utf8"},
		{[]byte(`{"tenant_id":"poison","host":"h","metric":"m","value":"NaN"}`), "not_finite"},
		{[]byte(`{"tenant_id":"poison","host":"h","metric":"m","value":1e999}`), "not_finite"},
		{[]byte(`{"tenant_id":"poison","host":"h","metric":"m","value":1,"ts_event":"2999-01-01T00:00:00Z"}`), "future"},
		{[]byte(`{"tenant_id":"poison","host":"h","metric":"m","value":1,`), "split_record"},
		{[]byte(tags.String()), "too_many_tags"},
		{[]byte(`{"tenant_id":"poison","host":"` + strings.Repeat("h", 100_000) + `","metric":"m","value":1}`), "too_large"},
	}
}

// sendPoison produces one burst; the keys identify the records in the DLQ.
func sendPoison(ctx context.Context, broker string, trial int) ([]*dlqWant, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ProducerBatchMaxBytes(16<<20), kgo.MaxBufferedBytes(64<<20))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	burst := poisonBurst()
	recs := make([]*kgo.Record, len(burst))
	wants := make([]*dlqWant, len(burst))
	for i, p := range burst {
		key := fmt.Sprintf("poison-%d-%d", trial, i)
		wants[i] = &dlqWant{what: "poison " + key, reason: p.reason, match: withKey(key)}
		recs[i] = &kgo.Record{Topic: tables.RawTopic, Key: []byte(key), Value: p.value}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return nil, fmt.Errorf("poison: %w", err)
	}
	return wants, nil
}
