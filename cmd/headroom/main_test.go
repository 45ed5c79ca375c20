package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// headroomBin is the headroom binary built once for the tests that run it
// as a real process.
var headroomBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "headroom-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	headroomBin = filepath.Join(dir, "headroom")
	out, err := exec.Command("go", "build", "-o", headroomBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build headroom: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
