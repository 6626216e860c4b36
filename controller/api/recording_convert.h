// RecordingService's messages <-> the recording domain (controller/core/recordings.h): the one
// place where an upload's payload is decoded and a recording becomes protobuf again.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "common/bytes.h"
#include "controller/core/recordings.h"
#include "warden/v1/recording.pb.h"

namespace warden {

// A host's chunk, its events decoded (common/recording.h) for what the archive indexes: every
// program run, as its command line (its file name when it had no argv), and every alert.
// Refuses a payload that does not decode, with the decoder's reason.
absl::StatusOr<RecordingChunk> ChunkFromProto(const v1::RecordingChunk& in);
// A chunk as a live viewer receives it, with the chain value after it.
v1::RecordingChunk ChunkToProto(const RecordingChunk& c, ByteSpan chain_hash);
// A stored recording as GetRecording streams it: the session described on the first chunk, and
// on the last how it ended (a live session's last chunk is not final).
std::vector<v1::RecordingChunk> PlaybackToProto(const RecordingArchive::Playback& p);
v1::UploadAck ControlToProto(const SessionControl& c);
// The request's times are in seconds, the archive's in nanoseconds.
RecordingFilter FilterFromProto(const v1::ListSessionsRequest& req);
void SummaryToProto(const RecordingRow& r, const RecordingArchive::Quorum& q,
                    v1::SessionSummary* out);

}  // namespace warden
