package cri

import (
	"bytes"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	gcontainer "github.com/gantry/gantry/container"
)

func listView(id, name string) *gcontainer.View {
	return &gcontainer.View{ID: id, ImageID: "sha256:abc", Config: &container.Config{Labels: map[string]string{
		labelMetadata: `{"name":"` + name + `"}`, labelLabels: `{"app":"` + name + `"}`, labelAnnotations: `{"a":"b"}`, labelImage: "busybox",
	}}, Pod: &gcontainer.Pod{SandboxID: "p"}}
}

// TestListCache: a container's message is made once per state (its CRI
// labels decoded once in its life) and kept while it is listed; a full
// list forgets the containers gone.
func TestListCache(t *testing.T) {
	var c listCache
	a, b := listView("a", "one"), listView("b", "two")
	ma := c.get(a, runtimeapi.ContainerState_CONTAINER_CREATED)
	if ma.Metadata.GetName() != "one" || ma.Labels["app"] != "one" || ma.Image.GetImage() != "busybox" || ma.PodSandboxId != "p" {
		t.Fatalf("message: %v", ma)
	}
	a.Config.Labels[labelMetadata] = `{"name":"changed"}`
	if c.get(a, runtimeapi.ContainerState_CONTAINER_CREATED) != ma {
		t.Error("a container's message was made again in the same state")
	}
	running := c.get(a, runtimeapi.ContainerState_CONTAINER_RUNNING)
	if running == ma || running.State != runtimeapi.ContainerState_CONTAINER_RUNNING || running.Metadata.GetName() != "one" {
		t.Errorf("message after a state change: %v", running)
	}
	if encodings(&c, []*runtimeapi.Container{ma})[0] != nil {
		t.Error("the encoding of a replaced message is kept")
	}
	c.get(b, runtimeapi.ContainerState_CONTAINER_EXITED)
	c.keep([]*gcontainer.View{b})
	if _, ok := c.ids["a"]; ok || len(c.wire) != 1 {
		t.Errorf("a removed container's message is kept after a full list (%d encodings)", len(c.wire))
	}
	if _, ok := c.ids["b"]; !ok {
		t.Error("a listed container's message was forgotten")
	}
	c.forget("b")
	if len(c.ids) != 0 || len(c.wire) != 0 {
		t.Errorf("a removed container's message is kept: %d messages, %d encodings", len(c.ids), len(c.wire))
	}
}

// TestListCodec: the codec's encoding of a list, from the cached
// encodings, decodes to the list; other messages are protobuf's.
func TestListCodec(t *testing.T) {
	var c listCache
	codec := listCodec{&c}
	resp := &runtimeapi.ListContainersResponse{Containers: []*runtimeapi.Container{
		c.get(listView("a", "one"), runtimeapi.ContainerState_CONTAINER_RUNNING),
		{Id: "not cached", Labels: map[string]string{"x": "y"}},
		c.get(listView("b", "two"), runtimeapi.ContainerState_CONTAINER_EXITED),
	}}
	b, err := codec.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var got runtimeapi.ListContainersResponse
	if err := codec.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, resp) {
		t.Errorf("decoded %v, want %v", &got, resp)
	}
	// The same list again is the last encoding; a changed one is not.
	if again, _ := codec.Marshal(&runtimeapi.ListContainersResponse{Containers: slices.Clone(resp.Containers)}); !bytes.Equal(again, b) {
		t.Error("the same list encoded again differs")
	}
	resp.Containers[2] = c.get(listView("b", "two"), runtimeapi.ContainerState_CONTAINER_RUNNING)
	b, _ = codec.Marshal(resp)
	got.Reset()
	if err := codec.Unmarshal(b, &got); err != nil || got.Containers[2].State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("a list after a state change: %v, %v", &got, err)
	}
	if b, err := codec.Marshal(&runtimeapi.ListContainersResponse{}); err != nil || len(b) != 0 {
		t.Errorf("an empty list: %q, %v", b, err)
	}
	st := &runtimeapi.VersionResponse{RuntimeName: "gantry"}
	b, err = codec.Marshal(st)
	var v runtimeapi.VersionResponse
	if err != nil || codec.Unmarshal(b, &v) != nil || v.RuntimeName != "gantry" {
		t.Errorf("another message: %v %v", &v, err)
	}
}

// TestListedPod: a pod's ListPodSandbox message is made again only when
// its state changes, and the codec's encoding of the list decodes to it.
func TestListedPod(t *testing.T) {
	s := &Service{}
	p := &pod{ID: "p1", CreatedAt: 5, Ready: true, config: &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "web"}, Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"}}}
	m := s.listedPod(p)
	if m.State != runtimeapi.PodSandboxState_SANDBOX_READY || m.Labels["app"] != "web" || s.listedPod(p) != m {
		t.Fatalf("message %v, made again: %v", m, s.listedPod(p) != m)
	}
	p.Ready = false
	stopped := s.listedPod(p)
	if stopped == m || stopped.State != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Errorf("message after the stop: %v", stopped)
	}
	if encodings(&s.list, []*runtimeapi.PodSandbox{m, stopped})[0] != nil {
		t.Error("the encoding of a replaced message is kept")
	}
	resp := &runtimeapi.ListPodSandboxResponse{Items: []*runtimeapi.PodSandbox{stopped, {Id: "not cached"}}}
	b, err := listCodec{&s.list}.Marshal(resp)
	var got runtimeapi.ListPodSandboxResponse
	if err != nil || proto.Unmarshal(b, &got) != nil || !proto.Equal(&got, resp) {
		t.Errorf("decoded %v (%v), want %v", &got, err, resp)
	}
}
