package api

import (
	"bufio"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// alertStream serves GET /alerts/stream: the active alerts first, then
// every transition as it happens.
func (s *Server) alertStream(c *fiber.Ctx) error {
	if s.opts.Hub == nil {
		return ErrUnavailable
	}
	// Values of c are only valid during the handler; the stream writer runs
	// after it returns.
	tenant, host := strings.Clone(c.Query("tenant")), strings.Clone(c.Query("host"))
	severity, state := strings.Clone(c.Query("severity")), strings.Clone(c.Query("state"))
	filter := func(ev AlertEvent) bool {
		return (tenant == "" || ev.Tenant == tenant) && (host == "" || ev.Host == host) &&
			(severity == "" || ev.Severity == severity) && (state == "" || ev.State == state)
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	hub, stop, beat := s.opts.Hub, s.stop, s.opts.Heartbeat
	sub, snapshot := hub.Subscribe(filter)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer hub.Unsubscribe(sub)
		if _, err := w.WriteString("retry: 3000\n\n"); err != nil {
			return
		}
		for _, ev := range snapshot {
			writeEvent(w, ev)
		}
		if w.Flush() != nil {
			return
		}
		t := time.NewTicker(beat)
		defer t.Stop()
		for {
			select {
			case ev := <-sub.C:
				writeEvent(w, ev)
			case <-t.C:
				// Fiber sees a dead client only when a write fails.
				_, _ = w.WriteString(": keep-alive\n\n")
			case <-sub.Gone:
				return
			case <-stop:
				return
			}
			if w.Flush() != nil {
				return
			}
		}
	})
	return nil
}

func writeEvent(w *bufio.Writer, ev AlertEvent) {
	_, _ = w.WriteString("id: ")
	_, _ = w.WriteString(ev.ID)
	_, _ = w.WriteString("\nevent: alert\ndata: ")
	_, _ = w.Write(ev.Data)
	_, _ = w.WriteString("\n\n")
}
