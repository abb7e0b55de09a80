package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/eventops/eventops/actors"
	"github.com/eventops/eventops/api"
)

// buildReload makes the reloader of the rules and, when Options.Reload is
// set, what reloads at each of its values.
func (w *wiring) buildReload() {
	w.reloader = actors.NewReloader(w.rules, w.sources, w.opts.LoadRules, w.reg, w.log)
	if fs := w.features; fs != nil {
		w.reloader.AfterReload(func() { fs.WakeStored() })
	}
	if w.opts.Reload == nil {
		return
	}
	w.goes(func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-w.opts.Reload:
				_, _ = w.reload()
			}
		}
	})
}

// reload reads the keys file first and the rules after, each on its own:
// a rule file with an error must not keep a removed key working.
func (w *wiring) reload() (api.ReloadResult, error) {
	var res api.ReloadResult
	var keysErr, rulesErr error
	if srv := w.server.Load(); srv != nil && w.opts.KeysFile != "" {
		res.Keys, keysErr = reloadKeys(srv, w.opts.KeysFile, w.log)
	}
	if rs, err := w.reloader.Reload(); err != nil {
		rulesErr = err
	} else {
		res.Rules, res.Files = rs.Len(), rs.Files()
	}
	return res, errors.Join(keysErr, rulesErr)
}

// reloadKeys reads the keys file again and puts it in force: a removed
// key, and every session opened with it, stops working at once. A file
// that does not load leaves the keys in force.
func reloadKeys(srv *api.Server, path string, log *slog.Logger) (int, error) {
	keys, err := api.LoadKeys(path)
	if err != nil {
		log.Error("keys reload failed; the keys in force stay", "err", err)
		return 0, fmt.Errorf("api_keys_file: %w", err)
	}
	if err := srv.SetKeys(keys); err != nil {
		return 0, err
	}
	log.Info("API keys reloaded", "keys", keys.Len(), "tenants", keys.Tenants(), "file", path)
	return keys.Len(), nil
}
