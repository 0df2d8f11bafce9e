package main

import (
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
)

// A bar: one service of one system, from its first output to its ready line, in seconds since `up` began.
type chartBar struct {
	Service      string
	First, Ready float64
}

// One system's start (e.g. "Dagger module" or "docker compose"), its bars and when the whole stack was healthy.
type chartLane struct {
	System  string
	Healthy float64 // seconds since up began
	Bars    []chartBar
}

// Layout in pixels. The image is meant for a README, so it has a fixed
// width and grows downwards with the number of services.
const (
	chartWidth    = 900
	chartPad      = 16  // outer margin left and right
	chartRight    = 70  // room right of the axis for the last "123.4 s" label
	chartBarH     = 14  // one lane's bar
	chartBarGap   = 3   // between the lanes' bars of one service
	chartRowPad   = 6   // above and below a service's bars
	chartHeadRow  = 20  // one healthy label's row above the plot
	chartNameMax  = 240 // widest service name column; longer names are cut
	chartMinBarW  = 2.0 // so that First == Ready still shows
	chartFontSize = 12
	chartFont     = "Helvetica, Arial, Liberation Sans, sans-serif"
	chartText     = "#24292f"
	chartGrid     = "#d8dee4"
	chartStripe   = "#f3f5f7"
)

// Lane colours: blue and orange first, which stay apart for most kinds of
// colour blindness; the rest only matter with more than two lanes.
var chartColours = []string{"#3b6fb6", "#e07b28", "#3a9a5b", "#c4464b", "#7d62b3", "#8c6d4f"}

// writeChart writes the SVG to path: a title line, then per service one row, with the lanes' bars for
// that service drawn one above the other (lane 0 above lane 1, distinct colours with a legend), a time
// axis in seconds with gridlines (sensible tick step: 1, 2, 5, 10, 20 ... s so there are 5-12 ticks),
// and for each lane a dashed vertical line at Healthy labelled e.g. "Dagger module healthy 27.1 s".
// Services are ordered by the earliest Ready across lanes. A service missing from a lane just has no bar
// for that lane. Each bar is labelled at its right end with its Ready time ("12.3 s"). A bar with
// First == Ready still shows (min width 2 px). Returns an error when there are no lanes or no bars,
// or when a value is negative or NaN, or First > Ready (the error names the system and service).
func writeChart(path, title string, lanes []chartLane) error {
	svg, err := renderChart(title, lanes)
	if err != nil {
		return err
	}
	return os.WriteFile(path, svg, 0o644)
}

// renderChart returns the SVG writeChart writes.
func renderChart(title string, lanes []chartLane) ([]byte, error) {
	if err := checkChart(lanes); err != nil {
		return nil, err
	}
	services := chartServices(lanes)

	// Horizontal layout: service names right-aligned in a column sized to
	// the longest one, within limits so the plot keeps most of the width.
	longest := 0
	for _, s := range services {
		longest = max(longest, len([]rune(s)))
	}
	nameW := math.Min(math.Max(chartTextW(longest, chartFontSize), 60), chartNameMax)
	x0 := chartPad + nameW + 10
	x1 := float64(chartWidth - chartRight)

	maxT := 0.0
	for _, l := range lanes {
		maxT = math.Max(maxT, l.Healthy)
		for _, b := range l.Bars {
			maxT = math.Max(maxT, b.Ready)
		}
	}
	step, ticks := chartTicks(maxT)
	end := step * float64(ticks)
	xOf := func(t float64) float64 { return x0 + t/end*(x1-x0) }

	// Vertical layout: title, legend, one row per healthy label, the rows,
	// then the axis.
	rowH := float64(len(lanes)*chartBarH + (len(lanes)-1)*chartBarGap + 2*chartRowPad)
	headTop := 66.0
	plotTop := headTop + float64(len(lanes)*chartHeadRow) + 6
	plotBottom := plotTop + rowH*float64(len(services))
	height := plotBottom + 48

	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	p(`<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="%s" font-size="%d" fill="%s">`+"\n",
		chartWidth, height, chartWidth, height, chartEsc(chartFont), chartFontSize, chartText)
	p("<title>%s</title>\n", chartEsc(title))
	// Opaque background: GitHub's dark theme would otherwise show dark text on dark.
	p(`<rect x="0" y="0" width="%d" height="%.0f" fill="#ffffff"/>`+"\n", chartWidth, height)
	p(`<text class="title" x="%d" y="28" font-size="16" font-weight="bold">%s</text>`+"\n", chartPad, chartEsc(title))

	// Legend: one swatch and name per lane, laid out left to right.
	lx := float64(chartPad)
	for i, l := range lanes {
		p(`<rect class="legend" x="%.1f" y="41" width="12" height="12" fill="%s"/>`, lx, chartColour(i))
		p(`<text x="%.1f" y="51.5">%s</text>`+"\n", lx+17, chartEsc(l.System))
		lx += 17 + chartTextW(len([]rune(l.System)), chartFontSize) + 24
	}

	// Row stripes, so that the bars of one service read as one group; full
	// width, since ready labels go past the axis' end.
	for i, s := range services {
		y := plotTop + rowH*float64(i)
		if i%2 == 0 {
			p(`<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s"/>`+"\n",
				chartPad, y, chartWidth-2*chartPad, rowH, chartStripe)
		}
		p(`<text class="service" x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n",
			x0-10, y+rowH/2+4, chartEsc(chartClip(s)))
	}

	// Gridlines and the time axis.
	for i := 0; i <= ticks; i++ {
		x := xOf(step * float64(i))
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>`+"\n",
			x, plotTop, x, plotBottom+4, chartGrid)
		p(`<text class="tick" x="%.1f" y="%.1f" text-anchor="middle" font-size="11">%s s</text>`+"\n",
			x, plotBottom+18, chartNum(step*float64(i)))
	}
	p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#8c959f" stroke-width="1"/>`+"\n",
		x0, plotBottom, x1, plotBottom)
	p(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11" fill="#57606a">seconds since up began</text>`+"\n",
		(x0+x1)/2, plotBottom+38)

	// Healthy lines, one label row each, the label right of its line or,
	// near the right edge, left of it. Labels right of their lines go by
	// time, those left of them the other way round and above, so that a
	// line coming down from a higher row does not cross a label below.
	// Any crossing that remains is hidden by the labels' white backing.
	type label struct {
		lane   int
		x, w   float64
		anchor string
		text   string
	}
	labels := make([]label, len(lanes))
	for i, l := range lanes {
		text := fmt.Sprintf("%s healthy %s", l.System, chartSecs(l.Healthy))
		lb := label{lane: i, x: xOf(l.Healthy), w: chartTextW(len([]rune(text)), chartFontSize*1.1), anchor: "start", text: text}
		if lb.x+5+lb.w > chartWidth-chartPad {
			lb.anchor = "end"
		}
		labels[i] = lb
	}
	sort.SliceStable(labels, func(i, j int) bool {
		a, b := labels[i], labels[j]
		if a.anchor != b.anchor {
			return a.anchor == "end"
		}
		if a.anchor == "end" {
			return a.x > b.x
		}
		return a.x < b.x
	})
	for row, lb := range labels {
		top := headTop + float64(row*chartHeadRow)
		p(`<line class="healthy" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="6,4"/>`+"\n",
			lb.x, top+2, lb.x, plotBottom, chartColour(lb.lane))
	}

	// Bars, each labelled with its ready time at its right end.
	for ri, s := range services {
		rowTop := plotTop + rowH*float64(ri)
		for li, l := range lanes {
			bar, ok := chartFind(l, s)
			if !ok {
				continue
			}
			y := rowTop + chartRowPad + float64(li*(chartBarH+chartBarGap))
			x := xOf(bar.First)
			w := math.Max(xOf(bar.Ready)-x, chartMinBarW)
			p(`<rect class="bar" data-system="%s" data-service="%s" x="%.2f" y="%.1f" width="%.2f" height="%d" rx="2" fill="%s">`,
				chartEsc(l.System), chartEsc(s), x, y, w, chartBarH, chartColour(li))
			p(`<title>%s</title></rect>`+"\n", chartEsc(fmt.Sprintf("%s, %s: first output %s, ready %s",
				l.System, s, chartSecs(bar.First), chartSecs(bar.Ready))))
			// Backed in the row's colour so that lines behind it do not
			// run through the digits.
			text := chartSecs(bar.Ready)
			bg := "#ffffff"
			if ri%2 == 0 {
				bg = chartStripe
			}
			p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"/>`, x+w+2, y+1, chartTextW(len(text), 11)+4, chartBarH-2, bg)
			p(`<text class="ready" x="%.1f" y="%.1f" font-size="11">%s</text>`+"\n", x+w+4, y+chartBarH-3, text)
		}
	}

	for row, lb := range labels {
		y := headTop + float64(row*chartHeadRow) + 14
		tx, bx := lb.x+5, lb.x+2
		if lb.anchor == "end" {
			tx, bx = lb.x-5, lb.x-lb.w-8
		}
		p(`<rect x="%.1f" y="%.1f" width="%.1f" height="16" fill="#ffffff"/>`+"\n", bx, y-12, lb.w+6)
		p(`<text class="healthy" x="%.1f" y="%.1f" text-anchor="%s" fill="%s" font-weight="bold">%s</text>`+"\n",
			tx, y, lb.anchor, chartColour(lb.lane), chartEsc(lb.text))
	}
	p("</svg>\n")
	return []byte(b.String()), nil
}

// checkChart rejects what cannot be drawn sensibly, naming where it is so
// that a bad measurement can be traced back to its log.
func checkChart(lanes []chartLane) error {
	if len(lanes) == 0 {
		return errors.New("chart: no lanes")
	}
	bars := 0
	for _, l := range lanes {
		if !chartOK(l.Healthy) {
			return fmt.Errorf("chart: system %q: healthy time %v is not a finite number >= 0", l.System, l.Healthy)
		}
		seen := map[string]bool{}
		for _, b := range l.Bars {
			switch {
			case !chartOK(b.First):
				return fmt.Errorf("chart: system %q, service %q: first output %v is not a finite number >= 0", l.System, b.Service, b.First)
			case !chartOK(b.Ready):
				return fmt.Errorf("chart: system %q, service %q: ready %v is not a finite number >= 0", l.System, b.Service, b.Ready)
			case b.First > b.Ready:
				return fmt.Errorf("chart: system %q, service %q: first output %v is after ready %v", l.System, b.Service, b.First, b.Ready)
			case seen[b.Service]:
				// Two bars would be drawn over each other.
				return fmt.Errorf("chart: system %q, service %q: listed twice", l.System, b.Service)
			}
			seen[b.Service] = true
			bars++
		}
	}
	if bars == 0 {
		return errors.New("chart: no bars in any lane")
	}
	return nil
}

// chartOK: NaN fails every comparison, so test for what is wanted.
func chartOK(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }

// chartServices lists every service once, by its earliest ready time over
// all lanes, then by name so that the output is stable.
func chartServices(lanes []chartLane) []string {
	earliest := map[string]float64{}
	for _, l := range lanes {
		for _, b := range l.Bars {
			if t, ok := earliest[b.Service]; !ok || b.Ready < t {
				earliest[b.Service] = b.Ready
			}
		}
	}
	var out []string
	for s := range earliest {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if earliest[out[i]] != earliest[out[j]] {
			return earliest[out[i]] < earliest[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

func chartFind(l chartLane, service string) (chartBar, bool) {
	for _, b := range l.Bars {
		if b.Service == service {
			return b, true
		}
	}
	return chartBar{}, false
}

// chartTicks picks a step of 1, 2 or 5 times a power of ten (at least 1 s)
// and the number of steps to cover maxT: 4 to 11 steps, so 5 to 12 ticks
// counting the one at 0.
func chartTicks(maxT float64) (step float64, steps int) {
	if !chartOK(maxT) {
		maxT = 0 // checkChart keeps these out; never loop for ever on them
	}
	for pow := 1.0; ; pow *= 10 {
		for _, m := range []float64{1, 2, 5} {
			step = m * pow
			n := math.Ceil(maxT / step)
			if n <= 11 {
				// Below 4 s the 1 s step alone would give too few ticks.
				return step, max(int(n), 4)
			}
		}
	}
}

func chartColour(lane int) string { return chartColours[lane%len(chartColours)] }

// chartTextW estimates the width of n characters; there are no font
// metrics in an SVG, so this errs on the wide side.
func chartTextW(n int, size float64) float64 { return float64(n) * size * 0.6 }

// chartClip shortens a name too long for the widest name column.
func chartClip(s string) string {
	r := []rune(s)
	fit := int(chartNameMax / chartTextW(1, chartFontSize))
	if len(r) <= fit {
		return s
	}
	return string(r[:fit-1]) + "…"
}

func chartSecs(v float64) string { return chartNum1(v) + " s" }

// chartNum1 prints one decimal, never "-0.0".
func chartNum1(v float64) string {
	if v == 0 {
		v = 0
	}
	return fmt.Sprintf("%.1f", v)
}

// chartNum prints a tick value, which is a whole number of seconds.
func chartNum(v float64) string { return fmt.Sprintf("%.0f", v) }

// chartEsc escapes text and double-quoted attribute values for XML;
// characters XML cannot hold at all (such as the escape byte of an ANSI
// colour code in a log) become U+FFFD.
func chartEsc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}
