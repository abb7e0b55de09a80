package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/eventops/eventops/replica"
)

// listening is what a process listens on, as its addr_file reports it.
type listening struct {
	// Kafka are the embedded brokers' addresses (dev, broker).
	Kafka []string `json:"kafka,omitempty"`
	// HTTP is the API's address (dev, run with the api stage).
	HTTP string `json:"http,omitempty"`
}

// report logs the bound addresses and, when path is set, writes them there
// as JSON. The file appears whole (written aside, then renamed), so that a
// reader polling for it never sees a part: it is how whoever started the
// process learns the ports that port 0 chose.
func (l listening) report(path string, log *slog.Logger) error {
	log.Info("listening", "kafka", l.Kafka, "http", l.HTTP)
	if path == "" {
		return nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("addr_file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("addr_file: %w", err)
	}
	return nil
}

// listenAPI binds http_addr when the replica serves the API, so that the
// address (and the port that port 0 chose) is known before anything else
// starts; nil when it does not.
func listenAPI(cfg *Config) (net.Listener, error) {
	if !cfg.has(replica.StageAPI) {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("http_addr: %w", err)
	}
	return ln, nil
}

// devHTTPAddr is where dev serves the API: without keys the API is open,
// so an address without a host (":8088") means loopback only; a host
// named in http_addr is kept.
func devHTTPAddr(cfg *Config) string {
	if cfg.APIKeysFile != "" {
		return cfg.HTTPAddr
	}
	if host, port, err := net.SplitHostPort(cfg.HTTPAddr); err == nil && host == "" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return cfg.HTTPAddr
}

// addrOf is a listener's address, empty without one.
func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}
