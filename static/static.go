package static

import (
	"embed"
	"io/fs"
)

// The vendored uPlot is pinned in vendor/uplot/VERSION, with its licence.
//
//go:embed index.html app.js explain.js activity.js notifications.js preview.js app.css preview.css vendor/uplot/uPlot.iife.min.js vendor/uplot/uPlot.min.css vendor/uplot/LICENSE vendor/uplot/VERSION
var files embed.FS

// FS returns the dashboard's files.
func FS() fs.FS { return files }
