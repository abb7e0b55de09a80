package gokatables

import (
	"github.com/lovoo/goka"

	"github.com/eventops/eventops/tables"
)

// Groups, one per stage.
const (
	IngestGroup   goka.Group = tables.IngestGroup
	FeaturesGroup goka.Group = tables.FeaturesGroup
	SinkGroup     goka.Group = tables.SinkGroup
	NotifyGroup   goka.Group = tables.NotifyGroup
)

// Streams and tables.
const (
	RawStream     goka.Stream = tables.RawTopic
	OTLPStream    goka.Stream = tables.OTLPTopic
	SignalsStream goka.Stream = tables.SignalsTopic
	AlertsStream  goka.Stream = tables.AlertsTopic
	MetaTable     goka.Table  = tables.MetaTopic
	FeaturesTable goka.Table  = tables.FeaturesTable
)

// Input names the record a goka callback is processing, as its DLQ record
// names its origin.
func Input(ctx goka.Context) tables.Input {
	return tables.Input{Topic: string(ctx.Topic()), Partition: ctx.Partition(), Offset: ctx.Offset(), Key: []byte(ctx.Key())}
}
