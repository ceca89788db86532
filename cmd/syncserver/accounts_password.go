package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/term"
)

// minPasswordLen is the shortest password accounts add accepts, as the
// page and Mozilla's accounts require.
const minPasswordLen = 8

// newPassword gets the password of a new account: asked twice without
// echo on a terminal, else read as one line from standard input (so that
// scripts can pipe it in, and it never appears in a command line or in
// the environment). The password is never written anywhere.
func (m *Main) newPassword(ctx context.Context, email string) (string, error) {
	return m.askNewPassword(ctx, email, "nothing created")
}

// askNewPassword is newPassword for a command whose refusal says nothing
// (e.g. "nothing created") was done.
func (m *Main) askNewPassword(ctx context.Context, email, nothing string) (string, error) {
	in := m.Stdin
	if in == nil {
		return "", errors.New("no standard input to read the password from")
	}
	var pw string
	if fd := int(in.Fd()); term.IsTerminal(fd) {
		var err error
		if pw, err = m.promptPassword(ctx, fd, "Password for "+email+": ", nothing); err != nil {
			return "", err
		}
		if err := checkPassword(pw); err != nil {
			return "", err
		}
		again, err := m.promptPassword(ctx, fd, "The same password again: ", nothing)
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", errors.New("the two passwords differ; " + nothing)
		}
		return pw, nil
	}
	pw, err := readPasswordLine(in)
	if err != nil {
		return "", err
	}
	return pw, checkPassword(pw)
}

// promptPassword asks for a password on the terminal fd without echo. An
// interrupt (Ctrl-C cancels ctx) gives the terminal its echo back before
// returning.
func (m *Main) promptPassword(ctx context.Context, fd int, prompt, nothing string) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", err
	}
	fmt.Fprint(m.Stderr, prompt)
	type answer struct {
		pw  []byte
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		pw, err := term.ReadPassword(fd)
		ch <- answer{pw, err}
	}()
	select {
	case a := <-ch:
		fmt.Fprintln(m.Stderr) // the newline typed was not echoed
		if a.err != nil {
			return "", fmt.Errorf("reading the password: %w", a.err)
		}
		return string(a.pw), nil
	case <-ctx.Done():
		term.Restore(fd, state)
		fmt.Fprintln(m.Stderr)
		return "", errors.New("interrupted; " + nothing)
	}
}

// maxPasswordBytes bounds the line read from a pipe: a password, not a file.
const maxPasswordBytes = 4096

// readPasswordLine reads the password as the first line of r, without its
// line ending (\n or \r\n); the end of the input ends it too.
func readPasswordLine(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(r, maxPasswordBytes+2)
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "", fmt.Errorf("the first line of standard input is longer than %d bytes: not a password", maxPasswordBytes)
	case err != nil && !errors.Is(err, io.EOF):
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
	if len(pw) > maxPasswordBytes {
		return "", fmt.Errorf("the first line of standard input is longer than %d bytes: not a password", maxPasswordBytes)
	}
	if pw == "" {
		return "", errors.New("no password: standard input is not a terminal, so the password is read from it as one line, and it was empty")
	}
	return pw, nil
}

// checkPassword refuses passwords the page would refuse too.
func checkPassword(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return errors.New("the password is not valid UTF-8, which the page (and so Firefox) would stretch differently")
	case utf8.RuneCountInString(pw) < minPasswordLen:
		return fmt.Errorf("the password is too short: at least %d characters", minPasswordLen)
	}
	return nil
}
