// Package configtest reads the configuration's bad fixtures
// (config/testdata/bad): each file, with the errors its "# error: " header
// lines expect, so that config's own tests and those of `headroom check
// config` hold their loaders to one list. Only tests import this package.
//
// It imports no Headroom package.
package configtest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// BadFixture is one file of config/testdata/bad.
type BadFixture struct {
	Path string // absolute
	Data []byte
	// Want are the errors the file's "# error: " lines expect, in order.
	Want []string
}

// BadFixtures reads every bad fixture. It fails the test when there is
// none, or when one lists no expected error.
func BadFixtures(t testing.TB) []BadFixture {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	files, err := filepath.Glob(filepath.Join(filepath.Dir(file), "..", "testdata", "bad", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad fixtures: %v", err)
	}
	out := make([]BadFixture, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fx := BadFixture{Path: f, Data: b}
		for _, l := range strings.Split(string(b), "\n") {
			if e, ok := strings.CutPrefix(l, "# error: "); ok {
				fx.Want = append(fx.Want, e)
			}
		}
		if len(fx.Want) == 0 {
			t.Fatalf("%s lists no expected errors", f)
		}
		out = append(out, fx)
	}
	return out
}
