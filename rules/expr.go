package rules

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// fnKind says which arguments an expression function takes.
type fnKind uint8

const (
	fnWindow   fnKind = iota + 1 // (metric, window)
	fnHalfLife                   // (metric, half-life)
	fnLast                       // (metric) or (metric, window)
	fnSince                      // () or (metric)
	fnAbs                        // (number)
)

// functionKind is the table of expression functions. A switch rather than a
// map keeps the package free of mutable globals.
func functionKind(name string) (kind fnKind, counterOnly bool, ok bool) {
	switch name {
	case "count", "sum", "avg", "min", "max", "stddev", "first", "rate", "delta",
		"zscore", "p50", "p95", "p99":
		return fnWindow, false, true
	case "increase", "counter_rate":
		return fnWindow, true, true
	case "last":
		return fnLast, false, true
	case "ewma", "ewmvar":
		return fnHalfLife, false, true
	case "seconds_since_last":
		return fnSince, false, true
	case "abs":
		return fnAbs, false, true
	}
	return 0, false, false
}

// functionNames lists every expression function, for registration with expr.
func functionNames() []string {
	return []string{"count", "sum", "avg", "min", "max", "stddev", "first", "last",
		"rate", "delta", "increase", "counter_rate", "zscore", "p50", "p95", "p99",
		"ewma", "ewmvar", "seconds_since_last", "abs"}
}

// StatSecondsSinceLast is the stat name of seconds_since_last references in
// FeatureRef; it is served by Features.SecondsSinceLast, not Features.Stat.
const StatSecondsSinceLast = "seconds_since_last"

// FeatureRef is one feature an expression reads: a stat of a metric over a
// window (or a half-life for ewma/ewmvar). Window is 0 for last(metric) (the
// latest value) and for seconds_since_last; Metric is "" for
// seconds_since_last() over any metric of the source. Selector, when set,
// narrows the series read to those with these tags (FormatSelector's form:
// mount="/"); the rule is evaluated per series either way.
type FeatureRef struct {
	Stat     string
	Metric   string
	Selector string
	Window   time.Duration
}

// String is the name of the feature in alert payloads: avg(cpu_load,5m),
// last(cpu_load), avg(disk_used_pct{mount="/"},5m), seconds_since_last().
func (f FeatureRef) String() string {
	var b strings.Builder
	b.WriteString(f.Stat)
	b.WriteByte('(')
	b.WriteString(f.Metric)
	if f.Selector != "" {
		b.WriteByte('{')
		b.WriteString(f.Selector)
		b.WriteByte('}')
	}
	if f.Window > 0 {
		b.WriteByte(',')
		b.WriteString(FormatDuration(f.Window))
	}
	b.WriteByte(')')
	return b.String()
}

// evalEnv is the expr environment of one evaluation: the values of the rule's
// features, read by the __f($env, i) calls that replace feature calls at load.
type evalEnv struct {
	vals []float64
}

// fetchName is the internal function that reads feature i of the environment.
// Users cannot call it: the validator only admits the functions above.
const fetchName = "__f"

func fetchFeature(params ...any) (any, error) {
	env, ok := params[0].(*evalEnv)
	i, ok2 := params[1].(int)
	if !ok || !ok2 || i < 0 || i >= len(env.vals) {
		return nil, errors.New("rules: bad feature reference")
	}
	return env.vals[i], nil
}

func absFunc(params ...any) (any, error) {
	switch v := params[0].(type) {
	case float64:
		return math.Abs(v), nil
	case int:
		return math.Abs(float64(v)), nil
	}
	return nil, fmt.Errorf("abs: not a number: %T", params[0])
}

func notCallable(params ...any) (any, error) {
	return nil, errors.New("rules: feature function called at run time")
}

// newExprConfig builds the expr configuration of rule expressions: no
// builtins, no variables but the internal environment, a node budget, the
// feature functions with static types, and the expected result kind.
func newExprConfig(maxNodes uint, expect reflect.Kind) *conf.Config {
	c := conf.CreateNew()
	opts := []expr.Option{
		expr.Env(&evalEnv{}),
		expr.DisableAllBuiltins(),
		expr.MaxNodes(maxNodes),
		expr.Function(fetchName, fetchFeature, new(func(*evalEnv, int) float64)),
		expr.Function("abs", absFunc, new(func(float64) float64)),
	}
	for _, name := range functionNames() {
		kind, _, _ := functionKind(name)
		switch kind {
		case fnWindow, fnHalfLife:
			opts = append(opts, expr.Function(name, notCallable, new(func(string, string) float64)))
		case fnLast:
			opts = append(opts, expr.Function(name, notCallable, new(func(string) float64), new(func(string, string) float64)))
		case fnSince:
			opts = append(opts, expr.Function(name, notCallable, new(func() float64), new(func(string) float64)))
		}
	}
	for _, o := range opts {
		o(c)
	}
	for name := range c.Disabled {
		delete(c.Builtins, name)
	}
	c.Expect = expect
	return c
}

// noDataCond is a comparison "seconds_since_last(...) op constant" of a rule;
// its truth flips once as time passes without data, at a computable instant.
type noDataCond struct {
	ref       int
	op        string // with seconds_since_last on the left
	threshold float64
}

func (c noDataCond) holds(seconds float64) bool {
	switch c.op {
	case ">":
		return seconds > c.threshold
	case ">=":
		return seconds >= c.threshold
	case "<":
		return seconds < c.threshold
	case "<=":
		return seconds <= c.threshold
	case "==":
		return seconds == c.threshold
	default:
		return seconds != c.threshold
	}
}

// program is one compiled expression of a rule.
type program struct {
	prog   *vm.Program
	code   *code // nil: the VM alone runs prog
	refs   []int // indexes into the rule's features that this program reads
	single int   // the feature index when the program is one bare feature call, else -1
}

// exprCompiler compiles the expressions of one rule, sharing one table of
// feature references between expr, clear and the value expression.
type exprCompiler struct {
	metrics   map[string]Metric
	windows   []time.Duration
	halfLives []time.Duration
	maxNodes  uint

	refs   []FeatureRef
	refIdx map[FeatureRef]int
	noData []noDataCond
	// floatLiterals makes every integer literal a float (see compileValue).
	floatLiterals bool
}

// compileValue compiles a value source (see valueSource). Such a source is
// printed from its condition's tree, which prints a float literal such as
// 2.0 as 2; when the source does not type-check as printed ("c ? 2.0 : 3.5"
// becomes "c ? 2 : 3.5"), it is compiled again with every number a float.
func (c *exprCompiler) compileValue(src string) (*program, []exprError) {
	p, _, ee := c.compile(src, true)
	if len(ee) == 0 {
		return p, nil
	}
	c.floatLiterals = true
	defer func() { c.floatLiterals = false }()
	if p2, _, ee2 := c.compile(src, true); len(ee2) == 0 {
		return p2, nil
	}
	return nil, ee
}

// exprError is a problem of an expression, with the 1-based line inside the
// expression text where it was found.
type exprError struct {
	line int
	msg  string
}

// compile compiles src as a condition (boolean) or, with value set, as the
// numeric value expression of a condition. For conditions it also returns the
// value expression source (see valueSource).
func (c *exprCompiler) compile(src string, value bool) (*program, string, []exprError) {
	expect := reflect.Bool
	if value {
		expect = reflect.Float64
	}
	cfg := newExprConfig(c.maxNodes, expect)
	tree, err := parser.ParseWithConfig(src, cfg)
	if err != nil {
		return nil, "", []exprError{c.fileError(err)}
	}
	if value && c.floatLiterals {
		ast.Walk(&tree.Node, floatLiterals{})
	}
	v := &validator{c: c, src: tree.Source, value: value, accounted: map[*ast.CallNode]bool{}, used: map[int]bool{}}
	v.node(tree.Node)
	if len(v.errs) > 0 {
		return nil, "", v.errs
	}
	valueSrc := ""
	if !value {
		valueSrc = valueSource(tree.Node)
	}
	single := -1
	if call, ok := tree.Node.(*ast.CallNode); ok && len(v.used) == 1 && !readsAbs(call) {
		for i := range v.used {
			single = i
		}
	}
	ast.Walk(&tree.Node, &fetchPatcher{c: c})
	if _, err := checker.Check(tree, cfg); err != nil {
		return nil, "", []exprError{c.fileError(err)}
	}
	if err := optimizer.Optimize(&tree.Node, cfg); err != nil {
		return nil, "", []exprError{c.fileError(err)}
	}
	prog, err := compileTree(tree, cfg)
	if err != nil {
		return nil, "", []exprError{c.fileError(err)}
	}
	p := &program{prog: prog, code: compileCode(tree.Node), single: single}
	for i := range v.used {
		p.refs = append(p.refs, i)
	}
	slices.Sort(p.refs)
	return p, valueSrc, nil
}

// compileTree turns a checked tree into bytecode; the compiler may panic on
// trees the checker let through, which must be a load error, not a crash.
func compileTree(tree *parser.Tree, cfg *conf.Config) (prog *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot compile: %v", r)
		}
	}()
	return compiler.Compile(tree, cfg)
}

func (c *exprCompiler) fileError(err error) exprError {
	var fe *file.Error
	if errors.As(err, &fe) {
		msg := fe.Message
		if strings.Contains(msg, "exceeds maximum allowed nodes") {
			return exprError{line: 1, msg: fmt.Sprintf("expression too large (more than %d nodes)", c.maxNodes)}
		}
		if fe.Column > 0 || fe.Line > 1 {
			msg += " at column " + strconv.Itoa(fe.Column+1)
		}
		return exprError{line: max(fe.Line, 1), msg: msg}
	}
	return exprError{line: 1, msg: err.Error()}
}

// validator walks a parsed expression and admits only what the rule language
// allows: number and boolean literals, arithmetic, comparisons, logic, the
// ternary operator, and calls of the feature functions with string-literal
// metric and window arguments. Everything else (variables, member access,
// arrays, maps, closures, builtins, let, pipes into other functions) is
// rejected, which keeps evaluation loop-free and its cost bounded by the node
// budget.
type validator struct {
	c         *exprCompiler
	src       file.Source
	value     bool // compiling a value expression: seconds_since_last may stand alone
	errs      []exprError
	accounted map[*ast.CallNode]bool // seconds_since_last calls inside a no-data comparison
	used      map[int]bool
}

func (v *validator) errorf(n ast.Node, format string, args ...any) {
	line := 1
	if n != nil {
		from := n.Location().From
		s := v.src.String()
		runes := 0
		for _, r := range s {
			if runes >= from {
				break
			}
			if r == '\n' {
				line++
			}
			runes++
		}
	}
	v.errs = append(v.errs, exprError{line: line, msg: fmt.Sprintf(format, args...)})
}

func (v *validator) node(n ast.Node) {
	switch n := n.(type) {
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
	case *ast.NilNode:
		v.errorf(n, "nil is not allowed")
	case *ast.StringNode:
		v.errorf(n, "string %s is only allowed as a metric, window or half-life argument", n.String())
	case *ast.IdentifierNode:
		v.errorf(n, "unknown name %q: read metrics with functions, e.g. avg(%q, \"5m\")", n.Value, n.Value)
	case *ast.UnaryNode:
		switch n.Operator {
		case "!", "not", "-", "+":
			v.node(n.Node)
		default:
			v.errorf(n, "operator %q is not allowed", n.Operator)
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and", "||", "or", "+", "-", "*", "/", "%", "**", "^":
			v.node(n.Left)
			v.node(n.Right)
		case "<", ">", "<=", ">=", "==", "!=":
			v.noDataComparison(n)
			v.node(n.Left)
			v.node(n.Right)
		default:
			v.errorf(n, "operator %q is not allowed", n.Operator)
		}
	case *ast.ConditionalNode:
		v.node(n.Cond)
		v.node(n.Exp1)
		v.node(n.Exp2)
	case *ast.CallNode:
		v.call(n)
	case *ast.BuiltinNode:
		v.errorf(n, "function %q is not allowed", n.Name)
	case *ast.MemberNode, *ast.ChainNode:
		v.errorf(n, "field and index access is not allowed")
	case *ast.ArrayNode, *ast.MapNode, *ast.PairNode, *ast.SliceNode:
		v.errorf(n, "arrays, maps and slices are not allowed")
	case *ast.VariableDeclaratorNode, *ast.SequenceNode:
		v.errorf(n, "variables and sequences are not allowed")
	case *ast.PredicateNode, *ast.PointerNode:
		v.errorf(n, "closures are not allowed")
	case nil:
		v.errorf(nil, "empty expression")
	default:
		v.errorf(n, "%s is not allowed", n.String())
	}
}

// noDataComparison records "seconds_since_last(...) op constant" (either
// side), so that NextDeadline can compute when it flips.
func (v *validator) noDataComparison(n *ast.BinaryNode) {
	call, other, op := sinceCall(n.Left), n.Right, n.Operator
	if call == nil {
		call, other, op = sinceCall(n.Right), n.Left, flipComparison(n.Operator)
	}
	if call == nil || !isConstant(other) || v.value {
		return
	}
	threshold, err := constantValue(other, v.c.maxNodes)
	if err != nil {
		return // reported when other is validated and type-checked
	}
	ref, ok := v.ref(call)
	if !ok {
		return
	}
	v.accounted[call] = true
	v.c.noData = append(v.c.noData, noDataCond{ref: ref, op: op, threshold: threshold})
}

func sinceCall(n ast.Node) *ast.CallNode {
	call, ok := n.(*ast.CallNode)
	if !ok {
		return nil
	}
	if id, ok := call.Callee.(*ast.IdentifierNode); ok && id.Value == "seconds_since_last" {
		return call
	}
	return nil
}

func flipComparison(op string) string {
	switch op {
	case "<":
		return ">"
	case ">":
		return "<"
	case "<=":
		return ">="
	case ">=":
		return "<="
	}
	return op
}

// isConstant reports whether n reads no feature: literals combined with
// operators and abs().
func isConstant(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.IntegerNode, *ast.FloatNode:
		return true
	case *ast.UnaryNode:
		return (n.Operator == "-" || n.Operator == "+") && isConstant(n.Node)
	case *ast.BinaryNode:
		switch n.Operator {
		case "+", "-", "*", "/", "%", "**", "^":
			return isConstant(n.Left) && isConstant(n.Right)
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == "abs" && len(n.Arguments) == 1 {
			return isConstant(n.Arguments[0])
		}
	}
	return false
}

func constantValue(n ast.Node, maxNodes uint) (float64, error) {
	cfg := newExprConfig(maxNodes, reflect.Float64)
	tree, err := parser.ParseWithConfig(n.String(), cfg)
	if err != nil {
		return 0, err
	}
	if _, err := checker.Check(tree, cfg); err != nil {
		return 0, err
	}
	prog, err := compileTree(tree, cfg)
	if err != nil {
		return 0, err
	}
	out, err := vm.Run(prog, &evalEnv{})
	if err != nil {
		return 0, err
	}
	return toFloat(out)
}

func toFloat(v any) (float64, error) {
	switch v := v.(type) {
	case float64:
		return v, nil
	case int:
		return float64(v), nil
	}
	return 0, fmt.Errorf("not a number: %T", v)
}

func (v *validator) call(n *ast.CallNode) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		v.errorf(n, "only the feature functions can be called")
		return
	}
	kind, _, ok := functionKind(id.Value)
	if !ok {
		v.errorf(n, "unknown function %q", id.Value)
		return
	}
	if kind == fnAbs {
		if len(n.Arguments) != 1 {
			v.errorf(n, "abs takes 1 argument, got %d", len(n.Arguments))
			return
		}
		v.node(n.Arguments[0])
		return
	}
	if kind == fnSince && !v.accounted[n] && !v.value {
		v.errorf(n, "%s must be compared directly with a constant, e.g. %s(\"heartbeat\") > 300, so that its deadline can be computed", id.Value, id.Value)
		return
	}
	if i, ok := v.ref(n); ok {
		v.used[i] = true
	}
}

// ref resolves a feature call to an index in the rule's feature table,
// reporting bad arguments.
func (v *validator) ref(n *ast.CallNode) (int, bool) {
	name := n.Callee.(*ast.IdentifierNode).Value
	kind, counterOnly, _ := functionKind(name)
	args := make([]string, len(n.Arguments))
	for i, a := range n.Arguments {
		s, ok := a.(*ast.StringNode)
		if !ok {
			v.errorf(n, "%s: argument %d must be a string literal", name, i+1)
			return 0, false
		}
		args[i] = s.Value
	}
	ref := FeatureRef{Stat: name}
	switch kind {
	case fnWindow, fnHalfLife:
		what := "window"
		if kind == fnHalfLife {
			what = "half-life"
		}
		if len(args) != 2 {
			v.errorf(n, "%s takes (metric, %s), got %d arguments", name, what, len(args))
			return 0, false
		}
	case fnLast:
		if len(args) != 1 && len(args) != 2 {
			v.errorf(n, "last takes (metric) or (metric, window), got %d arguments", len(args))
			return 0, false
		}
	case fnSince:
		if len(args) > 1 {
			v.errorf(n, "seconds_since_last takes () or (metric), got %d arguments", len(args))
			return 0, false
		}
	}
	if len(args) > 0 {
		metric, sel, err := ParseSeries(args[0])
		if err != nil {
			v.errorf(n, "%s: %v", name, err)
			return 0, false
		}
		ref.Metric, ref.Selector = metric, FormatSelector(sel)
		m, ok := v.c.metrics[ref.Metric]
		if !ok {
			v.errorf(n, "unknown metric %q (not in metrics:)", ref.Metric)
			return 0, false
		}
		if counterOnly && m.Kind != Counter {
			v.errorf(n, "%s needs a counter, but %q is a %s", name, ref.Metric, m.Kind)
			return 0, false
		}
	}
	if len(args) == 2 {
		d, err := ParseDuration(args[1])
		allowed, what := v.c.windows, "window"
		if kind == fnHalfLife {
			allowed, what = v.c.halfLives, "half-life"
		}
		if err != nil || !slices.Contains(allowed, d) {
			v.errorf(n, "%s %q is not a configured %s (%s)", what, args[1], what, formatDurations(allowed))
			return 0, false
		}
		ref.Window = d
	}
	i, ok := v.c.refIdx[ref]
	if !ok {
		i = len(v.c.refs)
		v.c.refs = append(v.c.refs, ref)
		v.c.refIdx[ref] = i
	}
	return i, true
}

func formatDurations(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = FormatDuration(d)
	}
	return strings.Join(s, ", ")
}

// fetchPatcher replaces each validated feature call by __f($env, i), so the
// compiled program reads precomputed values instead of calling out.
type fetchPatcher struct {
	c *exprCompiler
}

func (p *fetchPatcher) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok || id.Value == "abs" || id.Value == fetchName {
		return
	}
	ref := FeatureRef{Stat: id.Value}
	if len(call.Arguments) > 0 {
		metric, sel, _ := ParseSeries(call.Arguments[0].(*ast.StringNode).Value)
		ref.Metric, ref.Selector = metric, FormatSelector(sel)
	}
	if len(call.Arguments) > 1 {
		ref.Window, _ = ParseDuration(call.Arguments[1].(*ast.StringNode).Value)
	}
	i := p.c.refIdx[ref]
	ast.Patch(node, &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: fetchName},
		Arguments: []ast.Node{&ast.IdentifierNode{Value: "$env"}, &ast.IntegerNode{Value: i}},
	})
}

// floatLiterals turns integer literals into float literals.
type floatLiterals struct{}

func (floatLiterals) Visit(n *ast.Node) {
	if i, ok := (*n).(*ast.IntegerNode); ok {
		ast.Patch(n, &ast.FloatNode{Value: float64(i.Value)})
	}
}

// valueSource derives the expression of a rule's value from its condition:
// the side of the top comparison that reads features (the left one when both
// do); through && the first operand that has a value; through || the value of
// the first operand that is true ("a ? va : vb"); through ! its operand. It
// returns "" when no comparison is found (the rule then reports its first
// feature, or 0).
func valueSource(n ast.Node) string {
	switch n := n.(type) {
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			return valueSource(n.Node)
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			if s := valueSource(n.Left); s != "" {
				return s
			}
			return valueSource(n.Right)
		case "||", "or":
			l, r := valueSource(n.Left), valueSource(n.Right)
			switch {
			case l == "":
				return r
			case r == "" || l == r:
				return l
			}
			return "(" + n.Left.String() + ") ? (" + l + ") : (" + r + ")"
		case "<", ">", "<=", ">=", "==", "!=":
			if readsFeatures(n.Left) || !readsFeatures(n.Right) {
				return n.Left.String()
			}
			return n.Right.String()
		}
	case *ast.ConditionalNode:
		a, b := valueSource(n.Exp1), valueSource(n.Exp2)
		if a != "" && b != "" {
			return "(" + n.Cond.String() + ") ? (" + a + ") : (" + b + ")"
		}
	}
	return ""
}

func readsAbs(call *ast.CallNode) bool {
	id, ok := call.Callee.(*ast.IdentifierNode)
	return ok && id.Value == "abs"
}

func readsFeatures(n ast.Node) bool {
	found := false
	ast.Find(n, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallNode); ok {
			if id, ok := call.Callee.(*ast.IdentifierNode); ok && id.Value != "abs" {
				found = true
			}
		}
		return found
	})
	return found
}
