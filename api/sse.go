package api

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/eventops/eventops/tables"
)

// alertStream serves GET /alerts/stream: the active alerts first, then
// every transition as it happens. Every event carries the stream's
// position as its id; a client that reconnects with Last-Event-ID (as
// EventSource does by itself) gets the transitions it missed instead of the
// active alerts, from this replica or any other.
func (s *Server) alertStream(c *fiber.Ctx) error {
	if s.opts.Hub == nil {
		return ErrUnavailable
	}
	if err := checkParams(c, []string{"tenant", "host", "severity", "state"}); err != nil {
		return err
	}
	a, err := s.requestAccess(c)
	if err != nil {
		return err
	}
	// Values of c are only valid during the handler; the stream writer runs
	// after it returns.
	tenant, host := strings.Clone(c.Query("tenant")), strings.Clone(c.Query("host"))
	severity, state := strings.Clone(c.Query("severity")), strings.Clone(c.Query("state"))
	if tenant != "" && !a.sees(tenant) {
		return forbiddenTenant(tenant)
	}
	if state != "" && !contains(alertStates, state) {
		return badRequest("unknown state %q (use one of %s)", state, strings.Join(alertStates, ", "))
	}
	var resume Position
	if id := c.Get("Last-Event-ID"); id != "" {
		// A position this API did not write starts a fresh stream.
		resume, _ = ParsePosition(id)
		if resume == nil {
			resume = Position{}
		}
	}
	filter := func(ev AlertEvent) bool {
		return a.sees(ev.Tenant) && (tenant == "" || ev.Tenant == tenant) && (host == "" || ev.Host == host) &&
			(severity == "" || ev.Severity == severity) && (state == "" || ev.State == state)
	}
	hub := s.opts.Hub
	select {
	case <-hub.Ready():
	case <-time.After(s.opts.StreamWait):
		// Until the hub has read the topic, what it would send is history
		// taken for news; the client retries (EventSource does by itself).
		c.Set(fiber.HeaderRetryAfter, "5")
		return fmt.Errorf("%w: the alert stream is still reading %s", ErrUnavailable, tables.AlertsTopic)
	}
	// The stream counts against its key's, its tenant's and the server's
	// caps until it ends.
	capKey := a.key.ID
	if capKey == "" {
		capKey = "addr:" + c.Context().RemoteIP().String()
	}
	capTenant := tenant
	if capTenant == "" {
		capTenant, _ = a.only()
	}
	if capTenant == "" {
		capTenant = AllTenants
	}
	if err := s.streams.acquire(capKey, capTenant); err != nil {
		c.Set(fiber.HeaderRetryAfter, "10")
		return err
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	stop, beat, writeTimeout := s.stop, s.opts.Heartbeat, s.opts.StreamWriteTimeout
	conn := c.Context().Conn()
	streams := s.streams
	subTenant := tenant
	if subTenant == "" {
		subTenant, _ = a.only()
	}
	// The key may leave the keys file while the stream is open: the
	// stream then ends, before it writes anything more.
	keys := s.keyring.Load()
	if !keys.holds(a.key) {
		streams.release(capKey, capTenant)
		return fmt.Errorf("%w: the key of this request is no longer configured", ErrUnauthorized)
	}
	revoked := func() bool {
		if cur := s.keyring.Load(); cur != keys {
			keys = cur
		}
		return !keys.holds(a.key)
	}
	sub, start := hub.SubscribeTenant(subTenant, filter, resume)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer streams.release(capKey, capTenant)
		defer hub.Unsubscribe(sub)
		gone := watchClosed(conn, stop)
		defer gone.stop()
		// A client that stops reading fails the next write within
		// writeTimeout, which ends the stream and frees its goroutine.
		// A shutdown cuts a write that waits for such a client short
		// (watchClosed), so that it does not outlast ShutdownTimeout.
		flush := func() error {
			_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			select {
			case <-stop:
				return errShutdown
			default:
			}
			return w.Flush()
		}
		pos := append(Position(nil), start.Pos...)
		if _, err := w.WriteString("retry: 3000\n\n"); err != nil {
			return
		}
		if start.Reset {
			// The client's view is older than the hub keeps: it must drop
			// its active alerts and take the snapshot that follows.
			writeFrame(w, "reset", pos.String(), []byte(`{"reason":"the stream position is older than this server keeps; the active alerts follow"}`))
		}
		for _, ev := range start.Snapshot {
			writeFrame(w, "alert", pos.String(), ev.Data)
		}
		for _, ev := range start.Replay {
			pos = advance(pos, ev)
			writeFrame(w, "alert", pos.String(), ev.Data)
		}
		if flush() != nil {
			return
		}
		t := time.NewTicker(beat)
		defer t.Stop()
		for {
			select {
			case ev := <-sub.C:
				if revoked() {
					return
				}
				if int(ev.Partition) < len(pos) && ev.Offset < pos[ev.Partition] {
					continue // the client has it (it resumed from a replica further on)
				}
				pos = advance(pos, ev)
				writeFrame(w, "alert", pos.String(), ev.Data)
			case act := <-sub.Activity:
				if revoked() {
					return
				}
				writeFrame(w, "activity", pos.String(), act.Activity)
			case <-t.C:
				// A heartbeat keeps proxies from closing an idle stream,
				// and moves the client's id past transitions
				// its filter skipped, so that a resume stays in reach.
				_, _ = w.WriteString(": keep-alive\n")
				if p, ok := hub.Caught(sub); ok {
					pos = later(pos, p)
				}
				_, _ = w.WriteString("id: " + pos.String() + "\n")
				_, _ = w.WriteString("\n")
			case <-keys.replaced:
				if revoked() {
					return
				}
			case <-gone.closed:
				return
			case <-sub.Gone:
				return
			case <-stop:
				return
			}
			if flush() != nil {
				return
			}
		}
	})
	return nil
}

// connWatch sees a stream's client go away. A client sends nothing once
// its stream has begun, so a read that returns is its connection closing:
// the stream ends and frees its place at once, not at its next write (a
// heartbeat may be long in coming), so that the client's reconnect
// (EventSource retries after 3 s) finds its place free.
type connWatch struct {
	conn   net.Conn
	closed chan struct{}
	done   chan struct{}
	ended  chan struct{}
}

// errShutdown ends a stream when the server shuts down.
var errShutdown = errors.New("the server is shutting down")

// watchClosed watches conn until stop is called; when shutdown closes
// down, it also cuts short the write the stream waits in.
func watchClosed(conn net.Conn, down <-chan struct{}) *connWatch {
	w := &connWatch{conn: conn, closed: make(chan struct{}), done: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		select {
		case <-down:
			_ = conn.SetWriteDeadline(time.Now())
		case <-w.ended:
		}
	}()
	// The server's read deadline was for the request.
	_ = conn.SetReadDeadline(time.Time{})
	go func() {
		defer close(w.done)
		var b [512]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				close(w.closed)
				return
			}
		}
	}()
	return w
}

// stop ends the watch (its read is cut short) and waits for it.
func (w *connWatch) stop() {
	close(w.ended)
	_ = w.conn.SetReadDeadline(time.Now())
	<-w.done
	_ = w.conn.SetReadDeadline(time.Time{})
}

// advance moves pos past ev.
func advance(pos Position, ev AlertEvent) Position {
	for int(ev.Partition) >= len(pos) {
		pos = append(pos, 0)
	}
	if ev.Offset+1 > pos[ev.Partition] {
		pos[ev.Partition] = ev.Offset + 1
	}
	return pos
}

// later is the element-wise maximum of a and b.
func later(a, b Position) Position {
	for i, o := range b {
		if i >= len(a) {
			a = append(a, o)
		} else if o > a[i] {
			a[i] = o
		}
	}
	return a
}

func writeFrame(w *bufio.Writer, event, id string, data []byte) {
	_, _ = w.WriteString("id: ")
	_, _ = w.WriteString(id)
	_, _ = w.WriteString("\nevent: ")
	_, _ = w.WriteString(event)
	_, _ = w.WriteString("\ndata: ")
	_, _ = w.Write(data)
	_, _ = w.WriteString("\n\n")
}
