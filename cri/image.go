package cri

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/gantry/gantry/api"
)

// The image service is gantryd's image store: images pulled through the
// CRI are the ones docker images lists, and the other way round.

// fullName is a tag or digest reference as containerd reports it
// (docker.io/library/busybox:latest for busybox:latest).
func fullName(ref string) string {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return n.String()
}

func fullNames(refs []string) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		if r == "<none>:<none>" || r == "<none>@<none>" {
			continue
		}
		out = append(out, fullName(r))
	}
	return out
}

// ListImages lists the images (by reference, with the filter's).
func (s *Service) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	opts := api.ImageListOptions{}
	if ref := req.GetFilter().GetImage().GetImage(); ref != "" {
		st, err := s.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		if err != nil {
			return nil, err
		}
		if st.Image == nil {
			return &runtimeapi.ListImagesResponse{}, nil
		}
		return &runtimeapi.ListImagesResponse{Images: []*runtimeapi.Image{st.Image}}, nil
	}
	sums, err := s.b.Images(ctx, opts)
	if err != nil {
		return nil, err
	}
	out := make([]*runtimeapi.Image, 0, len(sums))
	for _, sum := range sums {
		out = append(out, &runtimeapi.Image{
			Id:          sum.ID,
			RepoTags:    fullNames(sum.RepoTags),
			RepoDigests: fullNames(sum.RepoDigests),
			Size:        uint64(max(sum.Size, 0)),
			Spec:        &runtimeapi.ImageSpec{Image: sum.ID},
		})
	}
	return &runtimeapi.ListImagesResponse{Images: out}, nil
}

// ImageStatus reports an image; one that is not there is no error but an
// empty answer, as the CRI says.
func (s *Service) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, invalid("image spec is empty")
	}
	ii, err := s.b.ImageInspect(ctx, ref)
	if err != nil {
		if isNotFound(err) {
			return &runtimeapi.ImageStatusResponse{}, nil
		}
		return nil, err
	}
	img := &runtimeapi.Image{
		Id:          ii.ID,
		RepoTags:    fullNames(ii.RepoTags),
		RepoDigests: fullNames(ii.RepoDigests),
		Size:        uint64(max(ii.Size, 0)),
		Spec:        &runtimeapi.ImageSpec{Image: ii.ID},
	}
	if ii.Config != nil {
		user, _, _ := strings.Cut(ii.Config.User, ":")
		if uid, err := strconv.ParseInt(user, 10, 64); err == nil {
			img.Uid = &runtimeapi.Int64Value{Value: uid}
		} else {
			img.Username = user
		}
	}
	return &runtimeapi.ImageStatusResponse{Image: img}, nil
}

// PullImage pulls an image with the credentials the kubelet passes.
func (s *Service) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, invalid("image spec is empty")
	}
	var auth registry.AuthConfig
	if a := req.GetAuth(); a != nil {
		auth = registry.AuthConfig{Username: a.Username, Password: a.Password, ServerAddress: a.ServerAddress, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
		if a.Auth != "" && auth.Username == "" {
			b, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return nil, invalid("auth of the pull: " + err.Error())
			}
			user, pass, ok := strings.Cut(string(b), ":")
			if !ok {
				return nil, invalid("auth of the pull: not user:password")
			}
			auth.Username, auth.Password = user, pass
		}
	}
	if err := s.b.PullImage(ctx, api.PullOptions{Image: ref, Auth: auth}, discard{}); err != nil {
		return nil, err
	}
	ii, err := s.b.ImageInspect(ctx, ref)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PullImageResponse{ImageRef: ii.ID}, nil
}

type discard struct{}

func (discard) Write(jsonstream.Message) error { return nil }

// RemoveImage removes an image with all its names (a name removes the
// image it names). An image that is not there is no error.
func (s *Service) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, invalid("image spec is empty")
	}
	ii, err := s.b.ImageInspect(ctx, ref)
	if err != nil {
		if isNotFound(err) {
			return &runtimeapi.RemoveImageResponse{}, nil
		}
		return nil, err
	}
	if _, err := s.b.RemoveImage(ctx, ii.ID, true, false); err != nil && !isNotFound(err) {
		return nil, err
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}

// ImageFsInfo reports the filesystem of the layers: the bytes the images
// take and the inodes used on it.
func (s *Service) ImageFsInfo(ctx context.Context, req *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	sums, err := s.b.Images(ctx, api.ImageListOptions{All: true})
	if err != nil {
		return nil, err
	}
	var used uint64
	for _, sum := range sums {
		used += uint64(max(sum.Size, 0))
	}
	var st unix.Statfs_t
	if err := unix.Statfs(s.cfg.ImageFS, &st); err != nil {
		return nil, err
	}
	fs := &runtimeapi.FilesystemUsage{
		Timestamp:  nowNano(),
		FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: s.cfg.ImageFS},
		UsedBytes:  &runtimeapi.UInt64Value{Value: used},
		InodesUsed: &runtimeapi.UInt64Value{Value: st.Files - st.Ffree},
	}
	return &runtimeapi.ImageFsInfoResponse{ImageFilesystems: []*runtimeapi.FilesystemUsage{fs}, ContainerFilesystems: []*runtimeapi.FilesystemUsage{fs}}, nil
}
