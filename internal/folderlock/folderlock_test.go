package folderlock

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// A second Lock on a locked folder fails at once, naming the folder and
// the owner's pid; after release the folder can be locked again.
func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir)
	var busy *BusyError
	if !errors.As(err, &busy) || !errors.Is(err, ErrBusy) || busy.PID != os.Getpid() || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second lock: err = %v; want a BusyError naming %s and pid %d", err, dir, os.Getpid())
	}
	release()
	again, err := Lock(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
}

// A lock dies with its process: a child that takes the lock and is killed
// leaves the folder free.
func TestLockDiesWithItsProcess(t *testing.T) {
	if os.Getenv("FOLDERLOCK_CHILD") != "" {
		if _, err := Lock(os.Getenv("FOLDERLOCK_CHILD")); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		select {} // hold it until killed
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockDiesWithItsProcess$")
	cmd.Env = append(os.Environ(), "FOLDERLOCK_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf[:6]) != "locked" {
		t.Fatalf("child: %q, %v", buf, err)
	}
	_, err = Lock(dir)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.PID != cmd.Process.Pid {
		t.Fatalf("while the child holds it: err = %v; want busy with pid %s", err, strconv.Itoa(cmd.Process.Pid))
	}
	cmd.Process.Kill()
	cmd.Wait()
	release, err := Lock(dir)
	if err != nil {
		t.Fatalf("after the child was killed: %v", err)
	}
	release()
}
