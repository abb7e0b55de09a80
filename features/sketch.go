package features

import (
	"cmp"
	"math"
	"slices"
)

// The quantile sketch is DDSketch-style: a value v > 0 falls in bin
// i = ceil(log_γ v), the bin covering (γ^(i-1), γ^i], and is read back as
// 2γ^i/(γ+1), which is within SketchRelativeError of every value in the bin.
// Negative values use the same bins on |v|; zero has its own bin. A bin is
// one signed key so that ascending keys are ascending values:
//
//	v > 0: key = i + keyOffset   (in [1, 2*keyOffset])
//	v = 0: key = 0
//	v < 0: key = -(i + keyOffset)
//
// Every float64 from the smallest subnormal to MaxFloat64 has
// |i| < 18,700 < keyOffset, so no value is clamped.
const (
	// SketchRelativeError is the relative error bound α of quantiles read
	// from the sketch (before any bin collapsing, see sketchMaxBins).
	SketchRelativeError = 0.02
	// sketchMaxBins bounds the bins one aggregated bucket keeps. Past it
	// the bin nearest zero on the fuller side is folded into its
	// neighbour away from zero, as DDSketch's "collapsing lowest" store
	// does: only quantiles among the smallest magnitudes of a bucket whose
	// values spread over more than γ^32 ≈ 3.6x lose the bound.
	sketchMaxBins = 32
	keyOffset     = 20000
)

var (
	sketchGamma    = (1 + SketchRelativeError) / (1 - SketchRelativeError)
	sketchLnGamma  = math.Log(sketchGamma)
	sketchInvLnG   = 1 / sketchLnGamma
	sketchRepScale = math.Log(2 / (sketchGamma + 1))
)

type bin struct {
	key int32
	n   uint64
}

func sketchKey(v float64) int32 {
	switch {
	case v > 0:
		return int32(math.Ceil(math.Log(v)*sketchInvLnG)) + keyOffset
	case v < 0:
		return -(int32(math.Ceil(math.Log(-v)*sketchInvLnG)) + keyOffset)
	}
	return 0
}

// keyValue is the value a bin reads back as. It may overflow to ±Inf for
// bins at the very top of the float64 range; callers clamp to [min, max].
func keyValue(k int32) float64 {
	switch {
	case k > 0:
		return math.Exp(float64(k-keyOffset)*sketchLnGamma + sketchRepScale)
	case k < 0:
		return -math.Exp(float64(-k-keyOffset)*sketchLnGamma + sketchRepScale)
	}
	return 0
}

// addKey adds one value's key to sorted bins, collapsing past the bound.
func addKey(bins []bin, k int32) []bin {
	i, found := slices.BinarySearchFunc(bins, k, func(b bin, k int32) int { return cmp.Compare(b.key, k) })
	if found {
		bins[i].n++
		return bins
	}
	bins = slices.Insert(roomForBins(bins, len(bins)+1), i, bin{key: k, n: 1})
	return collapse(bins)
}

// mergeBins merges sorted src into sorted dst, then collapses.
func mergeBins(dst, src []bin) []bin {
	var buf [2 * sketchMaxBins]bin
	if len(dst)+len(src) > len(buf) {
		// Sketches stay collapsed, so this is for completeness.
		for _, b := range src {
			i, found := slices.BinarySearchFunc(dst, b.key, func(x bin, k int32) int { return cmp.Compare(x.key, k) })
			if found {
				dst[i].n += b.n
			} else {
				dst = slices.Insert(dst, i, b)
			}
		}
		return collapse(dst)
	}
	merged := buf[:0]
	i, j := 0, 0
	for i < len(dst) && j < len(src) {
		switch a, b := dst[i], src[j]; {
		case a.key < b.key:
			merged = append(merged, a)
			i++
		case a.key > b.key:
			merged = append(merged, b)
			j++
		default:
			merged = append(merged, bin{key: a.key, n: a.n + b.n})
			i++
			j++
		}
	}
	merged = append(append(merged, dst[i:]...), src[j:]...)
	merged = collapse(merged)
	return append(roomForBins(dst[:0], len(merged)), merged...)
}

// roomForBins returns bins with capacity for n, growing it by doubling
// but never past what a sketch can hold before it collapses
// (sketchMaxBins+1): an aggregate's sketch costs at most that.
func roomForBins(bins []bin, n int) []bin {
	if n <= cap(bins) {
		return bins
	}
	c := max(n, min(2*cap(bins), sketchMaxBins+1))
	return append(make([]bin, 0, c), bins...)
}

func collapse(bins []bin) []bin {
	for len(bins) > sketchMaxBins {
		// Split point: first non-negative key.
		z, _ := slices.BinarySearchFunc(bins, 0, func(x bin, k int32) int { return cmp.Compare(x.key, k) })
		neg := z
		pos := len(bins) - z
		if z < len(bins) && bins[z].key == 0 {
			pos-- // the zero bin belongs to neither side
		}
		if pos >= neg {
			// Lowest positive bin folds into the next positive bin.
			p := len(bins) - pos
			bins[p+1].n += bins[p].n
			bins = slices.Delete(bins, p, p+1)
		} else {
			// Negative bin nearest zero folds into the next more negative one.
			bins[neg-2].n += bins[neg-1].n
			bins = slices.Delete(bins, neg-1, neg)
		}
	}
	return bins
}

// quantile reads the q-quantile (the value of rank floor(q*(n-1)), 0-based,
// in sorted order) from sorted bins, clamped to [lo, hi].
func quantile(bins []bin, q, lo, hi float64) float64 {
	var total uint64
	for _, b := range bins {
		total += b.n
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total-1)
	var cum uint64
	v := hi
	for _, b := range bins {
		cum += b.n
		if float64(cum) > rank {
			v = keyValue(b.key)
			break
		}
	}
	return math.Max(lo, math.Min(hi, v))
}

// sortedQuantile is quantile over the sketch of sorted raw values: the
// bin quantile picks is the one holding the value of rank floor(q*(n-1)),
// and sketchKey is monotone, so one key is computed instead of n.
func sortedQuantile(sorted []valueAt, q, lo, hi float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(q*float64(len(sorted)-1)), len(sorted)-1)
	return math.Max(lo, math.Min(hi, keyValue(sketchKey(sorted[i].v))))
}
