package notify

import (
	"cmp"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/eventops/eventops/rules"
)

var (
	// lineMsg is a problem yaml (or a key's decoder) placed at a line.
	lineMsg = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	// keyMsg is a problem of a key path: route.routes[0].receiver: ...
	keyMsg  = regexp.MustCompile(`^([a-z_]+(?:\[\d+\])*(?:\.[a-z_]+(?:\[\d+\])*)*): `)
	segment = regexp.MustCompile(`^([a-z_]+)((?:\[\d+\])*)$`)
	index   = regexp.MustCompile(`\[(\d+)\]`)
)

// positioned turns the problems of parse into rules.Errors of file: a
// problem that names its line keeps it; one that names a key path is put
// at the line of the deepest part of the path the document has.
func positioned(file string, root *yaml.Node, err error) rules.Errors {
	var msgs []string
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			msgs = append(msgs, e.Error())
		}
	} else {
		msgs = []string{err.Error()}
	}
	var out rules.Errors
	for _, m := range msgs {
		for _, l := range strings.Split(m, "\n") {
			l = strings.TrimSpace(l)
			if l == "" || l == "yaml: unmarshal errors:" {
				continue
			}
			e := rules.Error{File: file, Msg: l}
			if sub := lineMsg.FindStringSubmatch(l); sub != nil {
				e.Line, _ = strconv.Atoi(sub[1])
				e.Msg = sub[2]
			} else if sub := keyMsg.FindStringSubmatch(l); sub != nil {
				e.Line = lineOf(root, sub[1])
			}
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b rules.Error) int { return cmp.Compare(a.Line, b.Line) })
	return out
}

// lineOf returns the line of the deepest node of path (name[i].name...)
// the document has, 0 when it has none of it.
func lineOf(doc *yaml.Node, path string) int {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(path, ".") {
		sub := segment.FindStringSubmatch(part)
		if sub == nil || n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == sub[1] {
				line, next = n.Content[i].Line, n.Content[i+1]
			}
		}
		if next == nil {
			return line
		}
		for _, ix := range index.FindAllStringSubmatch(sub[2], -1) {
			i, _ := strconv.Atoi(ix[1])
			if next.Kind != yaml.SequenceNode || i >= len(next.Content) {
				return line
			}
			next = next.Content[i]
			line = next.Line
		}
		n = next
	}
	return line
}
