package static

import (
	"embed"
	"io/fs"
)

//go:embed index.html
var files embed.FS

// FS returns the dashboard's files.
func FS() fs.FS { return files }
