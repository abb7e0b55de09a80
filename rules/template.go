package rules

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Meta is the metadata of a source, from the enrichment table
// (meta.source.v1). Annotation templates see it as $meta: $meta.owner,
// $meta.region, $meta.service, $meta.tags.KEY.
type Meta struct {
	Owner   string            `json:"owner,omitempty"`
	Region  string            `json:"region,omitempty"`
	Service string            `json:"service,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
}

func (m Meta) templateValue() map[string]any {
	tags := m.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return map[string]any{"owner": m.Owner, "region": m.Region, "service": m.Service, "tags": tags}
}

// templateData is what an annotation template executes on; the header below
// binds its fields to the Prometheus-style variables.
type templateData struct {
	Labels   map[string]string
	Value    float64
	Meta     map[string]any
	Features map[string]float64
}

const templateHeader = "{{$labels := .Labels}}{{$value := .Value}}{{$meta := .Meta}}{{$features := .Features}}"

// maxAnnotationBytes bounds one rendered annotation.
const maxAnnotationBytes = 16 << 10

var errAnnotationTooLong = errors.New("annotation longer than 16KiB")

func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"humanize":           humanize,
		"humanizeDuration":   humanizeDuration,
		"humanizePercentage": func(v float64) string { return humanize(v*100) + "%" },
		"toUpper":            strings.ToUpper,
		"toLower":            strings.ToLower,
		"trimSpace":          strings.TrimSpace,
	}
}

// annotation is one compiled annotation template of a rule.
type annotation struct {
	name string
	src  string
	tmpl *template.Template
}

// parseAnnotation parses an annotation template; missing map keys render as
// the empty string.
func parseAnnotation(name, src string) (*annotation, error) {
	t, err := template.New(name).Funcs(templateFuncs()).Option("missingkey=zero").Parse(templateHeader + src)
	if err != nil {
		return nil, err
	}
	return &annotation{name: name, src: src, tmpl: t}, nil
}

// render executes the template. A failure renders an error marker in place of
// the text: an alert with a broken annotation is still an alert.
func (a *annotation) render(data *templateData) (out string) {
	defer func() {
		if r := recover(); r != nil {
			out = fmt.Sprintf("<error expanding template: %v>", r)
		}
	}()
	w := &limitedBuffer{max: maxAnnotationBytes}
	if err := a.tmpl.Execute(w, data); err != nil {
		return "<error expanding template: " + err.Error() + ">"
	}
	return w.buf.String()
}

type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.buf.Len()+len(p) > l.max {
		return 0, errAnnotationTooLong
	}
	return l.buf.Write(p)
}

// humanize prints v with an SI prefix: 1234567 -> "1.235M", 0.0012 -> "1.2m".
func humanize(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	abs := math.Abs(v)
	if abs >= 1 {
		prefixes := []string{"", "k", "M", "G", "T", "P", "E", "Z", "Y"}
		i := 0
		for abs >= 1000 && i < len(prefixes)-1 {
			abs /= 1000
			v /= 1000
			i++
		}
		return strconv.FormatFloat(v, 'g', 4, 64) + prefixes[i]
	}
	prefixes := []string{"", "m", "u", "n", "p", "f", "a", "z", "y"}
	i := 0
	for abs < 1 && i < len(prefixes)-1 {
		abs *= 1000
		v *= 1000
		i++
	}
	return strconv.FormatFloat(v, 'g', 4, 64) + prefixes[i]
}

// humanizeDuration prints a number of seconds as "1h 2m 3s" (or "250ms").
func humanizeDuration(seconds float64) string {
	if math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		return strconv.FormatFloat(seconds, 'f', -1, 64)
	}
	if math.Abs(seconds) < 1 {
		return strconv.FormatFloat(seconds*1000, 'g', 4, 64) + "ms"
	}
	d := time.Duration(seconds * float64(time.Second)).Round(time.Second)
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h, m, s := d/time.Hour, (d%time.Hour)/time.Minute, (d%time.Minute)/time.Second
	var parts []string
	if days > 0 {
		parts = append(parts, strconv.Itoa(int(days))+"d")
	}
	if h > 0 {
		parts = append(parts, strconv.Itoa(int(h))+"h")
	}
	if m > 0 {
		parts = append(parts, strconv.Itoa(int(m))+"m")
	}
	if s > 0 || len(parts) == 0 {
		parts = append(parts, strconv.Itoa(int(s))+"s")
	}
	return sign + strings.Join(parts, " ")
}
