package cri

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	gcontainer "github.com/gantry/gantry/container"
)

type listBackend struct {
	Backend
	views []*gcontainer.View
}

func (b listBackend) PodContainers(string) []*gcontainer.View { return b.views }

// BenchmarkListContainers: ListContainers of 100 containers, and its
// encoding by protobuf and by the CRI's codec.
func BenchmarkListContainers(b *testing.B) {
	var views []*gcontainer.View
	for i := range 100 {
		views = append(views, &gcontainer.View{ID: fmt.Sprintf("%064d", i), Created: time.Now(), ImageID: "sha256:abc",
			State: gcontainer.State{Status: "running"},
			Config: &container.Config{Labels: map[string]string{
				labelMetadata: `{"name":"c","attempt":1}`, labelLabels: `{"io.kubernetes.pod.name":"p","io.kubernetes.pod.namespace":"default","io.kubernetes.pod.uid":"u","io.kubernetes.container.name":"c"}`,
				labelAnnotations: `{"io.kubernetes.container.hash":"1234","io.kubernetes.container.restartCount":"0","io.kubernetes.container.terminationMessagePath":"/dev/termination-log"}`, labelImage: "busybox"}},
			Pod: &gcontainer.Pod{SandboxID: "p"}})
	}
	s := &Service{b: listBackend{views: views}}
	b.Run("list", func(b *testing.B) {
		for b.Loop() {
			s.ListContainers(context.Background(), &runtimeapi.ListContainersRequest{})
		}
	})
	resp, _ := s.ListContainers(context.Background(), &runtimeapi.ListContainersRequest{})
	b.Run("marshal", func(b *testing.B) {
		for b.Loop() {
			proto.Marshal(resp)
		}
	})
	b.Run("codec", func(b *testing.B) {
		for b.Loop() {
			listCodec{&s.list}.Marshal(resp)
		}
	})
}
