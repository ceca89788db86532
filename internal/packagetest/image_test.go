package packagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"syncserver/hawk"
	"syncserver/internal/testdb"
	"syncserver/token"
)

// imageEnv names an image already built (make image, then
// SYNCSERVER_TEST_IMAGE=localhost/syncserver:latest); without it the
// test builds its own with make image under a throw-away name.
const imageEnv = "SYNCSERVER_TEST_IMAGE"

// The image as a user meets it: started with the documented podman run
// line (a port on loopback, a host directory as /data, configured by
// environment alone), it answers the heartbeat, stores and returns a
// Hawk-signed record, keeps its sqlite file in /data owned by the image's
// user, and its HEALTHCHECK passes. Where the machine cannot run
// containers (crun cannot set rlimits or cgroups in some sandboxes), the
// image is mounted and its entrypoint run in it with chroot, as the
// image's user, with the image's environment and working directory: the
// same files, user and configuration, without a container runtime.
func TestContainerImage(t *testing.T) {
	distDir(t) // run from make test-packaging only, like the other artefacts' tests
	podman := needPodman(t)
	image := testImage(t, podman)
	cfg := inspectImage(t, podman, image)
	uid, gid := checkImageConfig(t, cfg)
	checkImageFiles(t, podman, image, uid, gid)

	data := t.TempDir()
	if err := os.Chown(data, uid, gid); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	publicURL := "http://127.0.0.1:" + strconv.Itoa(port)
	secret := randomHex(t, 32)
	env := []string{"SYNCSERVER_PUBLIC_URL=" + publicURL + "/", "SYNCSERVER_SECRET=" + secret}

	var srv imageRun
	c, err := startContainer(t, podman, image, data, port, env)
	if err == nil {
		t.Logf("ran the image with podman run (container %s)", c.id)
		srv = c
	} else {
		t.Logf("podman run failed, so the image's entrypoint runs in the mounted image with chroot instead: %v", err)
		srv = startChroot(t, podman, image, cfg, uid, gid, data, port, env)
	}

	waitHeartbeat(t, srv, publicURL)
	storeAndRead(t, publicURL, secret)

	db := filepath.Join(data, "syncserver.db")
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatalf("no sqlite file in the /data volume: %v\n%s", err, srv.logs())
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s is owned by %d:%d, want the image's user %d:%d", db, st.Uid, st.Gid, uid, gid)
	}

	if out, err := srv.healthcheck(); err != nil {
		t.Errorf("the image's HEALTHCHECK failed: %v\n%s\nserver log:\n%s", err, out, srv.logs())
	}
}

// needPodman returns podman's path, or skips the test (fails it when
// SYNCSERVER_TEST_REQUIRE lists podman or root). Root: the test mounts
// the image and gives the volume to the image's user.
func needPodman(t *testing.T) string {
	t.Helper()
	missing := func(msg string) {
		t.Helper()
		for _, name := range []string{"podman", "root"} {
			if testdb.Required(name) {
				t.Fatalf("%s (%s lists %q, so this is a failure, not a skip)", msg, testdb.RequireEnv, name)
			}
		}
		t.Skip(msg)
	}
	path, err := exec.LookPath("podman")
	if err != nil {
		missing("podman is not installed (Debian package podman): the container image is not tested")
	}
	if os.Geteuid() != 0 {
		missing("not root: the container image test mounts the image and chowns its volume")
	}
	return path
}

// testImage is the image to test: SYNCSERVER_TEST_IMAGE, or one built
// now with make image and removed at the end.
func testImage(t *testing.T, podman string) string {
	t.Helper()
	if image := os.Getenv(imageEnv); image != "" {
		return image
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is not installed (Debian package make): it builds the image; or set %s to an image already built", imageEnv)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	name := "localhost/syncserver-packagetest-" + randomHex(t, 4)
	const version = "packagetest"
	cmd := exec.Command("make", "-C", root, "image", "IMAGE="+name, "VERSION="+version)
	out, err := cmd.CombinedOutput()
	t.Cleanup(func() {
		if out, err := exec.Command(podman, "rmi", name+":"+version, name+":latest").CombinedOutput(); err != nil {
			t.Logf("removing the test image: %v\n%s", err, out)
		}
	})
	if err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Logf("built %s with make image (set %s to test an image already built)", name+":latest", imageEnv)
	return name + ":latest"
}

// imageConfig is what the test reads of podman image inspect.
type imageConfig struct {
	Config struct {
		User         string
		Env          []string
		Entrypoint   []string
		Cmd          []string
		WorkingDir   string
		Volumes      map[string]struct{}
		ExposedPorts map[string]struct{}
	}
	Healthcheck *struct{ Test []string }
	Size        int64
}

func inspectImage(t *testing.T, podman, image string) imageConfig {
	t.Helper()
	out, err := exec.Command(podman, "image", "inspect", image).Output()
	if err != nil {
		t.Fatalf("podman image inspect %s: %v", image, stderrOf(err))
	}
	var cfgs []imageConfig
	if err := json.Unmarshal(out, &cfgs); err != nil || len(cfgs) != 1 {
		t.Fatalf("podman image inspect %s: %v\n%s", image, err, out)
	}
	t.Logf("image %s: %.1f MB", image, float64(cfgs[0].Size)/1e6)
	return cfgs[0]
}

// checkImageConfig checks what the README promises of the image and
// returns its user.
func checkImageConfig(t *testing.T, cfg imageConfig) (uid, gid int) {
	t.Helper()
	c := cfg.Config
	u, g, ok := strings.Cut(c.User, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil || uid == 0 || gid == 0 {
		t.Fatalf("USER %q: want a numeric non-root user and group (UID:GID)", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/syncserver"}) || len(c.Cmd) != 0 {
		t.Errorf("ENTRYPOINT %q CMD %q: want the binary alone, serving", c.Entrypoint, c.Cmd)
	}
	if _, ok := c.Volumes["/data"]; !ok || c.WorkingDir != "/data" {
		t.Errorf("VOLUME %v WORKDIR %q: want /data for both (sqlite's default file is syncserver.db in the working directory)", c.Volumes, c.WorkingDir)
	}
	if _, ok := c.ExposedPorts["5000/tcp"]; !ok || !slices.Contains(c.Env, "SYNCSERVER_HOST=0.0.0.0") {
		t.Errorf("EXPOSE %v, ENV %q: want 5000/tcp and SYNCSERVER_HOST=0.0.0.0", c.ExposedPorts, c.Env)
	}
	if hc := cfg.Healthcheck; hc == nil || !slices.Equal(hc.Test, []string{"CMD", "/syncserver", "healthcheck"}) {
		t.Errorf("HEALTHCHECK %+v: want CMD [\"/syncserver\", \"healthcheck\"] (built with --format docker?)", hc)
	}
	return uid, gid
}

// checkImageFiles checks that the image holds the binary and an empty
// /data of the image's user, and nothing else (no shell).
func checkImageFiles(t *testing.T, podman, image string, uid, gid int) {
	t.Helper()
	mnt := mountImage(t, podman, image)
	var got []string
	err := filepath.WalkDir(mnt, func(path string, d os.DirEntry, err error) error {
		if err != nil || path == mnt {
			return err
		}
		rel, _ := filepath.Rel(mnt, path)
		got = append(got, "/"+rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/data", "/syncserver"}; !slices.Equal(got, want) {
		t.Errorf("the image holds %q, want only %q", got, want)
	}
	fi, err := os.Stat(filepath.Join(mnt, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || int(st.Gid) != gid || fi.Mode().Perm()&0o700 != 0o700 {
		t.Errorf("/data is %v %d:%d, want it writable by the image's user %d:%d", fi.Mode(), st.Uid, st.Gid, uid, gid)
	}
}

// mountImage mounts the image's root read-only until the end of the test.
func mountImage(t *testing.T, podman, image string) string {
	t.Helper()
	out, err := exec.Command(podman, "image", "mount", image).Output()
	if err != nil {
		t.Fatalf("podman image mount %s: %v", image, stderrOf(err))
	}
	t.Cleanup(func() {
		if out, err := exec.Command(podman, "image", "unmount", image).CombinedOutput(); err != nil {
			t.Errorf("podman image unmount %s: %v\n%s", image, err, out)
		}
	})
	return strings.TrimSpace(string(out))
}

// imageRun is the image running, one way or the other.
type imageRun interface {
	// healthcheck runs the image's HEALTHCHECK once.
	healthcheck() (string, error)
	logs() string
}

// container is the image run by podman.
type container struct {
	podman, id string
}

// startContainer runs the image as the README says, with the volume a
// host directory and the port on loopback. It returns an error when
// podman cannot run it at all; the container is removed at the end.
func startContainer(t *testing.T, podman, image, data string, port int, env []string) (*container, error) {
	t.Helper()
	name := "syncserver-packagetest-" + randomHex(t, 4)
	args := []string{"run", "--detach", "--name", name,
		"--publish", "127.0.0.1:" + strconv.Itoa(port) + ":5000", "--volume", data + ":/data"}
	for _, e := range env {
		args = append(args, "--env", e)
	}
	out, err := exec.Command(podman, append(args, image)...).Output()
	// A failed run may leave the container created: remove it by the
	// name this test gave it.
	t.Cleanup(func() {
		if out, err := exec.Command(podman, "rm", "--force", "--time", "10", "--ignore", name).CombinedOutput(); err != nil {
			t.Errorf("podman rm %s: %v\n%s", name, err, out)
		}
	})
	if err != nil {
		return nil, stderrOf(err)
	}
	return &container{podman: podman, id: strings.TrimSpace(string(out))}, nil
}

func (c *container) healthcheck() (string, error) {
	out, err := exec.Command(c.podman, "healthcheck", "run", c.id).CombinedOutput()
	return string(out), err
}

func (c *container) logs() string {
	out, _ := exec.Command(c.podman, "logs", c.id).CombinedOutput()
	return string(out)
}

// chrooted is the image's entrypoint run in the mounted image.
type chrooted struct {
	root string
	cfg  imageConfig
	uid  int
	gid  int
	env  []string
	out  *logBuffer
}

// startChroot runs the image's entrypoint with the mounted image as its
// root, as `chroot --userspec=UID:GID MNT ENTRYPOINT` would, and in the
// image's working directory, which chroot(1) cannot set. The host
// directory is bind-mounted on /data, as the volume. With no network
// namespace of its own, the server listens on loopback at port rather
// than on every address at 5000.
func startChroot(t *testing.T, podman, image string, cfg imageConfig, uid, gid int, data string, port int, env []string) *chrooted {
	t.Helper()
	root := mountImage(t, podman, image)
	target := filepath.Join(root, "data")
	if err := syscall.Mount(data, target, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mounting the volume on %s: %v", target, err)
	}
	// Registered after mountImage's clean-up, so it runs before it.
	t.Cleanup(func() {
		if err := syscall.Unmount(target, 0); err != nil {
			t.Errorf("unmounting %s: %v", target, err)
			syscall.Unmount(target, syscall.MNT_DETACH)
		}
	})
	c := &chrooted{root: root, cfg: cfg, uid: uid, gid: gid, out: &logBuffer{},
		env: append(slices.Clone(env), "SYNCSERVER_HOST=127.0.0.1", "SYNCSERVER_PORT="+strconv.Itoa(port))}
	cmd := c.command(append(slices.Clone(cfg.Config.Entrypoint), cfg.Config.Cmd...))
	cmd.Stdout, cmd.Stderr = c.out, c.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %q in %s: %v", cmd.Args, root, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Errorf("the server did not stop within 15 s of SIGTERM")
			cmd.Process.Kill()
			<-exited
		}
	})
	return c
}

// command runs args in the image's root as the image's user, with the
// image's environment and then the test's.
func (c *chrooted) command(args []string) *exec.Cmd {
	dir := c.cfg.Config.WorkingDir
	if dir == "" {
		dir = "/"
	}
	return &exec.Cmd{
		Path: args[0],
		Args: args,
		Dir:  dir, // inside the new root: Go changes root, then directory
		Env:  append(slices.Clone(c.cfg.Config.Env), c.env...),
		SysProcAttr: &syscall.SysProcAttr{
			Chroot:     c.root,
			Credential: &syscall.Credential{Uid: uint32(c.uid), Gid: uint32(c.gid), Groups: []uint32{}},
		},
	}
}

func (c *chrooted) healthcheck() (string, error) {
	test := c.cfg.Healthcheck.Test
	if len(test) < 2 || test[0] != "CMD" {
		return "", fmt.Errorf("HEALTHCHECK %q is not in exec form", test)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := c.command(test[1:])
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return out.String(), errors.New("healthcheck did not finish within 30 s")
	}
}

func (c *chrooted) logs() string { return c.out.String() }

// waitHeartbeat waits up to 30 s for /__heartbeat__ to answer 200.
func waitHeartbeat(t *testing.T, srv imageRun, base string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(base + "/__heartbeat__")
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
		last = fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
	t.Fatalf("no heartbeat within 30 s: %s\nserver log:\n%s", last, srv.logs())
}

// storeAndRead writes one record as a Sync client would, with a token
// minted with the server's secret (as the tokenserver would give it), and
// reads it back.
func storeAndRead(t *testing.T, base, secret string) {
	t.Helper()
	secrets, err := token.NewSecrets([]string{secret})
	if err != nil {
		t.Fatal(err)
	}
	const uid = 1
	id, key, err := secrets.Mint(token.Payload{UID: uid, Node: base, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	rec := base + "/storage/1.5/" + strconv.Itoa(uid) + "/storage/packagetest/rec1"
	payload := "written through the container image"
	body, _ := json.Marshal(map[string]string{"id": "rec1", "payload": payload})
	if status, resp := hawkDo(t, id, key, http.MethodPut, rec, body); status != http.StatusOK {
		t.Fatalf("PUT %s: %d %s", rec, status, resp)
	}
	status, resp := hawkDo(t, id, key, http.MethodGet, rec, nil)
	var got struct{ ID, Payload string }
	if err := json.Unmarshal(resp, &got); status != http.StatusOK || err != nil || got.ID != "rec1" || got.Payload != payload {
		t.Fatalf("GET %s: %d %s (%v); want rec1 with payload %q", rec, status, resp, err, payload)
	}
}

// hawkDo sends one Hawk-signed request and returns the status and body.
func hawkDo(t *testing.T, id, key, method, rawURL string, body []byte) (int, []byte) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	a := hawk.Auth{ID: id, TS: time.Now().Unix(), Nonce: base64.StdEncoding.EncodeToString([]byte(randomHex(t, 6)))}
	a.MAC = hawk.Sign([]byte(key), a, hawk.Request{Method: method, Host: u.Hostname(), Port: port, Resource: u.RequestURI()})
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", a.Header())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// stderrOf adds a command's standard error to its exit error.
func stderrOf(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}
