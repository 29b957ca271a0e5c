// Package jsonfile reads and writes the JSON files of run and study folders
// (configs, results, markers, analyses), so that every package writes them
// the same way (indented, newline-terminated, atomically) and reports a
// file that does not parse by its path.
package jsonfile

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/losslab/losslab/internal/atomicfile"
)

// Read reads the JSON file at path into v. A missing or unreadable file is
// os.ReadFile's error (fs.ErrNotExist for a missing one); a file that does
// not decode is an error naming path.
func Read(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}

// Write writes v to path as indented JSON ending in a newline, atomically
// (atomicfile.WriteFile).
func Write(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}
