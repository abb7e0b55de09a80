package actors

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
)

// NewSystem returns an actor system that logs through l instead of
// protoactor's coloured default handler.
func NewSystem(l *slog.Logger) *actor.ActorSystem {
	if l == nil {
		l = slog.Default()
	}
	l = l.With("component", "actors")
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return l }))
}
