package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// svgElem is one element of a rendered chart: its name, attributes and the
// text directly inside it.
type svgElem struct {
	name  string
	attrs map[string]string
	text  string
}

// parseChart reads every token of svg, failing the test if it is not
// well-formed XML, and returns the elements in document order.
func parseChart(t *testing.T, svg []byte) []svgElem {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	var out []svgElem
	var open []int // indexes in out of the elements being read
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := svgElem{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			open = append(open, len(out))
			out = append(out, e)
		case xml.EndElement:
			open = open[:len(open)-1]
		case xml.CharData:
			if len(open) > 0 {
				out[open[len(open)-1]].text += string(tok)
			}
		}
	}
	if len(out) == 0 || out[0].name != "svg" {
		t.Fatalf("no svg root element:\n%s", svg)
	}
	return out
}

// withClass returns the elements named name whose class is class.
func withClass(elems []svgElem, name, class string) []svgElem {
	var out []svgElem
	for _, e := range elems {
		if e.name == name && e.attrs["class"] == class {
			out = append(out, e)
		}
	}
	return out
}

func num(t *testing.T, e svgElem, attr string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(e.attrs[attr], 64)
	if err != nil {
		t.Fatalf("%s %s=%q: %v", e.name, attr, e.attrs[attr], err)
	}
	return v
}

func render(t *testing.T, title string, lanes []chartLane) []svgElem {
	t.Helper()
	svg, err := renderChart(title, lanes)
	if err != nil {
		t.Fatal(err)
	}
	return parseChart(t, svg)
}

// twoLanes: docker compose has no flower, and the order of postgres and
// valkey differs between the lanes.
var twoLanes = []chartLane{
	{System: "Dagger module", Healthy: 27.1, Bars: []chartBar{
		{"postgres", 0.9, 4.0},
		{"valkey", 1.0, 1.5},
		{"airflow-flower", 10, 20},
		{"airflow-apiserver", 8, 25.3},
	}},
	{System: "docker compose", Healthy: 30, Bars: []chartBar{
		{"postgres", 0.5, 1.2},
		{"valkey", 2, 3},
		{"airflow-apiserver", 9, 22},
	}},
}

func TestChartDrawsOneBarPerLaneAndService(t *testing.T) {
	elems := render(t, "Start-up", twoLanes)
	var got, want []string
	for _, e := range withClass(elems, "rect", "bar") {
		got = append(got, e.attrs["data-system"]+"/"+e.attrs["data-service"])
	}
	for _, l := range twoLanes {
		for _, b := range l.Bars {
			want = append(want, l.System+"/"+b.Service)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("bars %q, want %q", got, want)
	}
	if titles := withClass(elems, "text", "title"); len(titles) != 1 || titles[0].text != "Start-up" {
		t.Errorf("title texts %+v, want one \"Start-up\"", titles)
	}
	for _, e := range elems {
		if e.name == "script" || e.name == "foreignObject" {
			t.Errorf("unexpected <%s> in an image for a README", e.name)
		}
	}
}

func TestChartPutsLaneZeroAboveLaneOneInEachRow(t *testing.T) {
	elems := render(t, "t", twoLanes)
	y := map[string]float64{}
	for _, e := range withClass(elems, "rect", "bar") {
		y[e.attrs["data-system"]+"/"+e.attrs["data-service"]] = num(t, e, "y")
	}
	for _, s := range []string{"postgres", "valkey", "airflow-apiserver"} {
		up, down := y["Dagger module/"+s], y["docker compose/"+s]
		if !(up < down && down-up < 30) {
			t.Errorf("%s: Dagger module bar at y=%v, docker compose at y=%v: want the first just above the second", s, up, down)
		}
	}
}

func TestChartBarsAreProportionalToTime(t *testing.T) {
	elems := render(t, "t", []chartLane{{System: "s", Healthy: 12, Bars: []chartBar{
		{"ten", 0, 10}, {"five", 0, 5}, {"late", 5, 10}, {"instant", 3, 3},
	}}})
	bars := map[string]svgElem{}
	for _, e := range withClass(elems, "rect", "bar") {
		bars[e.attrs["data-service"]] = e
	}
	ten, five, late, instant := bars["ten"], bars["five"], bars["late"], bars["instant"]
	if num(t, ten, "x") != num(t, five, "x") {
		t.Errorf("bars from 0 s start at x=%v and x=%v", num(t, ten, "x"), num(t, five, "x"))
	}
	if r := num(t, ten, "width") / num(t, five, "width"); math.Abs(r-2) > 0.01 {
		t.Errorf("a 10 s bar is %v times as wide as a 5 s one, want 2", r)
	}
	// A bar from 5 s starts where the 5 s bar from 0 ends.
	if d := num(t, late, "x") - (num(t, five, "x") + num(t, five, "width")); math.Abs(d) > 0.02 {
		t.Errorf("bar from 5 s is %v px off the end of the bar to 5 s", d)
	}
	if w := num(t, instant, "width"); w < 2 {
		t.Errorf("a bar with First == Ready is %v px wide, want at least 2", w)
	}
}

func TestChartOrdersServicesByEarliestReady(t *testing.T) {
	elems := render(t, "t", twoLanes)
	// Earliest ready: postgres 1.2 (compose), valkey 1.5 (module),
	// airflow-flower 20, airflow-apiserver 22 (compose).
	want := []string{"postgres", "valkey", "airflow-flower", "airflow-apiserver"}
	var got []string
	last := math.Inf(-1)
	for _, e := range withClass(elems, "text", "service") {
		got = append(got, e.text)
		if y := num(t, e, "y"); y <= last {
			t.Errorf("service %q at y=%v is not below the previous one at %v", e.text, y, last)
		} else {
			last = y
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("services %q, want %q", got, want)
	}
	// Each service's bars sit in its own row.
	rowOf := map[string]float64{}
	for _, e := range withClass(elems, "text", "service") {
		rowOf[e.text] = num(t, e, "y")
	}
	for _, e := range withClass(elems, "rect", "bar") {
		s := e.attrs["data-service"]
		if y := num(t, e, "y"); math.Abs(y-rowOf[s]) > 30 {
			t.Errorf("bar of %s at y=%v is far from its row label at y=%v", s, y, rowOf[s])
		}
	}
}

func TestChartLabelsHealthyLinesAndReadyTimes(t *testing.T) {
	elems := render(t, "t", twoLanes)
	var labels []string
	for _, e := range withClass(elems, "text", "healthy") {
		labels = append(labels, e.text)
	}
	slices.Sort(labels)
	want := []string{"Dagger module healthy 27.1 s", "docker compose healthy 30.0 s"}
	if !slices.Equal(labels, want) {
		t.Errorf("healthy labels %q, want %q", labels, want)
	}
	lines := withClass(elems, "line", "healthy")
	if len(lines) != 2 {
		t.Fatalf("%d healthy lines, want 2", len(lines))
	}
	for _, l := range lines {
		if l.attrs["stroke-dasharray"] == "" || num(t, l, "x1") != num(t, l, "x2") {
			t.Errorf("healthy line %v is not a dashed vertical line", l.attrs)
		}
	}
	// The later healthy time is further right.
	if a, b := num(t, lines[0], "x1"), num(t, lines[1], "x1"); a == b {
		t.Errorf("healthy lines at 27.1 s and 30 s are both at x=%v", a)
	}
	var ready []string
	for _, e := range withClass(elems, "text", "ready") {
		ready = append(ready, e.text)
	}
	for _, r := range []string{"4.0 s", "1.5 s", "20.0 s", "25.3 s", "1.2 s", "3.0 s", "22.0 s"} {
		if !slices.Contains(ready, r) {
			t.Errorf("no ready label %q in %q", r, ready)
		}
	}
}

func TestChartTicks(t *testing.T) {
	for _, maxT := range []float64{0, 0.4, 3, 4, 4.01, 9.9, 11, 12, 27.1, 55, 60, 61, 119, 250, 999, 12345} {
		step, steps := chartTicks(maxT)
		if n := steps + 1; n < 5 || n > 12 {
			t.Errorf("max %v: %d ticks, want 5 to 12", maxT, n)
		}
		if step*float64(steps) < maxT {
			t.Errorf("max %v: axis ends at %v", maxT, step*float64(steps))
		}
		mant := step / math.Pow(10, math.Floor(math.Log10(step)))
		if step < 1 || !slices.Contains([]float64{1, 2, 5}, math.Round(mant*1e9)/1e9) {
			t.Errorf("max %v: step %v is not 1, 2 or 5 times a power of ten", maxT, step)
		}
	}
	// And the drawn axis: 0 to 30 s in 5 s steps for healthy at 30 s.
	var ticks []string
	for _, e := range withClass(render(t, "t", twoLanes), "text", "tick") {
		ticks = append(ticks, e.text)
	}
	if want := []string{"0 s", "5 s", "10 s", "15 s", "20 s", "25 s", "30 s"}; !slices.Equal(ticks, want) {
		t.Errorf("ticks %q, want %q", ticks, want)
	}
}

func TestChartEscapesNames(t *testing.T) {
	const system, service, title = `a<b&"c"`, "x<&y\x1b[0m", "up & <running>"
	svg, err := renderChart(title, []chartLane{{System: system, Healthy: 2, Bars: []chartBar{{service, 0, 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(svg, []byte("x<&y")) || bytes.Contains(svg, []byte("a<b")) || bytes.Contains(svg, []byte("\x1b")) {
		t.Errorf("names written unescaped:\n%s", svg)
	}
	elems := parseChart(t, svg)
	bars := withClass(elems, "rect", "bar")
	if len(bars) != 1 || bars[0].attrs["data-system"] != system || !strings.HasPrefix(bars[0].attrs["data-service"], "x<&y") {
		t.Errorf("bar attributes after decoding: %+v", bars)
	}
	if s := withClass(elems, "text", "service"); len(s) != 1 || !strings.HasPrefix(s[0].text, "x<&y") {
		t.Errorf("service label after decoding: %+v", s)
	}
	if h := withClass(elems, "text", "healthy"); len(h) != 1 || h[0].text != system+" healthy 2.0 s" {
		t.Errorf("healthy label after decoding: %+v", h)
	}
	if ti := withClass(elems, "text", "title"); len(ti) != 1 || ti[0].text != title {
		t.Errorf("title after decoding: %+v", ti)
	}
}

func TestChartRejectsWhatItCannotDraw(t *testing.T) {
	one := func(b chartBar) []chartLane {
		return []chartLane{
			{System: "fine", Healthy: 5, Bars: []chartBar{{"postgres", 0, 1}}},
			{System: "broken", Healthy: 5, Bars: []chartBar{{"postgres", 0, 1}, b}},
		}
	}
	for _, c := range []struct {
		name  string
		lanes []chartLane
		want  []string // in the error
	}{
		{"no lanes", nil, []string{"no lanes"}},
		{"no bars", []chartLane{{System: "a", Healthy: 1}, {System: "b", Healthy: 1}}, []string{"no bars"}},
		{"negative first", one(chartBar{"valkey", -1, 1}), []string{"broken", "valkey"}},
		{"negative ready", one(chartBar{"valkey", 0, -0.5}), []string{"broken", "valkey"}},
		{"NaN first", one(chartBar{"valkey", math.NaN(), 1}), []string{"broken", "valkey"}},
		{"NaN ready", one(chartBar{"valkey", 0, math.NaN()}), []string{"broken", "valkey"}},
		{"infinite ready", one(chartBar{"valkey", 0, math.Inf(1)}), []string{"broken", "valkey"}},
		{"first after ready", one(chartBar{"valkey", 3, 2}), []string{"broken", "valkey"}},
		{"service twice", one(chartBar{"postgres", 0, 2}), []string{"broken", "postgres"}},
		{"negative healthy", []chartLane{{System: "sick", Healthy: -1, Bars: []chartBar{{"postgres", 0, 1}}}}, []string{"sick"}},
		{"NaN healthy", []chartLane{{System: "sick", Healthy: math.NaN(), Bars: []chartBar{{"postgres", 0, 1}}}}, []string{"sick"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			svg, err := renderChart("t", c.lanes)
			if err == nil {
				t.Fatalf("no error; drew:\n%s", svg)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestWriteChartWritesTheRenderedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "startup.svg")
	if err := writeChart(path, "Start-up", twoLanes); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := renderChart("Start-up", twoLanes)
	if !bytes.Equal(got, want) {
		t.Error("file differs from renderChart's output")
	}
	bad := filepath.Join(dir, "bad.svg")
	if err := writeChart(bad, "t", nil); err == nil {
		t.Error("no error for no lanes")
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("a file was written for bad input (stat: %v)", err)
	}
}
