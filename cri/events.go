package cri

import (
	"time"

	evtypes "github.com/moby/moby/api/types/events"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/gantry/gantry/events"
)

// criEventTypes are the container events the CRI tells (the kubelet's
// evented PLEG), from gantryd's.
var criEventTypes = map[evtypes.Action]runtimeapi.ContainerEventType{
	evtypes.ActionCreate:  runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT,
	evtypes.ActionStart:   runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT,
	evtypes.ActionDie:     runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT,
	evtypes.ActionDestroy: runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT,
}

// GetContainerEvents streams the events of the CRI's containers from now
// on, each with its pod's status and the statuses of the pod's containers,
// until the client goes away. A client too slow for gantryd's event queue
// is cut off (its stream ends with an error), and lists again.
func (s *Service) GetContainerEvents(req *runtimeapi.GetEventsRequest, stream grpc.ServerStreamingServer[runtimeapi.ContainerEventResponse]) error {
	ctx := stream.Context()
	_, sub := s.b.SubscribeEvents(time.Now())
	defer sub.Close()
	for {
		var m events.Message
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case m, ok = <-sub.C():
			if !ok {
				return statusOf(unavailable("the event stream fell behind; list the containers again"))
			}
		}
		typ, known := criEventTypes[m.Action]
		podID := m.Actor.Attributes[labelSandboxID]
		if m.Type != evtypes.ContainerEventType || !known || podID == "" {
			continue
		}
		resp := &runtimeapi.ContainerEventResponse{ContainerId: m.Actor.ID, ContainerEventType: typ, CreatedAt: m.TimeNano}
		if p, err := s.pods.get(podID); err == nil {
			resp.PodSandboxStatus = s.podStatus(p)
		}
		if list, err := s.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: podID}}); err == nil {
			for _, c := range list.Containers {
				if st, err := s.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id}); err == nil {
					resp.ContainersStatuses = append(resp.ContainersStatuses, st.Status)
				}
			}
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}
