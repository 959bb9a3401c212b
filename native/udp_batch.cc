// Batched UDP I/O for lbdns, the class UdpBatch of the addon lbdns_native (src/server/udp-batch.ts
// is its only user).
//
// With answerFrom(), a batch's repeat queries whose answers the shared table holds are answered
// here (native/fixed_answers.h) before the batch goes to JavaScript: their replies come first in
// `replies`, and onBatch(count, answered, answeredBytes, nanosEach) says how many and how many bytes
// of `output` they took, so JavaScript only counts them and answers the rest after them.
//
// Node's dgram receives and sends one datagram per call, and its send path costs more than the
// DNS answer it carries. A UdpBatch owns one UDP socket: recvmmsg fills a buffer JavaScript
// shares, one JavaScript call handles the whole batch, and the replies JavaScript writes into an
// output buffer leave with sendmmsg. The raw syscalls, not libuv's uv_udp_try_send2, which drops
// the datagrams past its first batch without saying so (libuv#5245).
//
// The memory layout is written once more in src/server/udp-batch.ts (RECEIVED_BYTES, REPLY_INTS):
//   received datagram i, at meta + i*48: u32 length, u32 source port, u32 family (4 or 6),
//     u32 flags (1: truncated, the datagram was longer than its slot; 2: answered here), 16 bytes
//     source address (IPv4: the first 4), then for one answered here u32 qtype, u32 zone (the
//     shared table's index), u32 rcode, u32 response length; its bytes at input + i*slot.
//   reply j, at replies + j*12: i32 index of the datagram it answers, i32 offset and i32 length
//     of its bytes in output.
// A send that fails (source port 0, no route) is counted and returned, never thrown: a client
// chooses its source, and a reply to a forged one must not stop the others. A send the kernel
// cannot take yet (its send buffer is full: EAGAIN, ENOBUFS) waits in a bounded queue until the
// socket is writable, as libuv queues dgram's sends; only past the bound is a reply dropped.
#include "lbdns_native.h"
#include "fixed_answers.h"

#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr size_t kReceivedBytes = 48;
constexpr size_t kReplyInts = 3;
constexpr uint32_t kTruncated = 1;
constexpr uint32_t kAnswered = 2;
// Batches read per wakeup: enough to amortise the wakeup, few enough that TCP and timers get
// their turn under a flood.
constexpr int kBatchesPerWakeup = 4;
// Replies waiting for room in the kernel's send buffer, at most: past it they are dropped and
// counted, so a client that cannot be reached costs bounded memory.
constexpr size_t kMaxQueuedBytes = 4 << 20;
// Queued replies handed to one sendmmsg.
constexpr size_t kQueuedPerSend = 64;

bool KernelBusy(int error) {
  return error == EAGAIN || error == EWOULDBLOCK || error == ENOBUFS;
}

std::string ErrnoName(int error) {
  return uv_err_name(-error);
}

Napi::Error SyscallError(Napi::Env env, const char* syscall, int error, const std::string& where) {
  std::string code = ErrnoName(error);
  Napi::Error e = Napi::Error::New(env, std::string(syscall) + " " + code + (where.empty() ? "" : " " + where));
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -error));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

class UdpBatch : public Napi::ObjectWrap<UdpBatch> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "UdpBatch",
                       {
                           InstanceMethod<&UdpBatch::Port>("port"),
                           InstanceMethod<&UdpBatch::Send>("send"),
                           InstanceMethod<&UdpBatch::SendTo>("sendTo"),
                           InstanceMethod<&UdpBatch::Close>("close"),
                           InstanceMethod<&UdpBatch::AnswerFrom>("answerFrom"),
                       });
  }

  // new UdpBatch({ family, host, port, reusePort, input, meta, output, replies }, onBatch)
  // Binds at once; throws the bind's error (code EADDRINUSE etc.) as dgram's 'error' would carry it.
  explicit UdpBatch(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpBatch>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "UdpBatch(options, onBatch)").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object options = info[0].As<Napi::Object>();
    int family = options.Get("family").As<Napi::Number>().Int32Value();
    std::string host = options.Get("host").As<Napi::String>().Utf8Value();
    int port = options.Get("port").As<Napi::Number>().Int32Value();
    bool reusePort = options.Get("reusePort").ToBoolean().Value();
    Napi::Value input = options.Get("input"), meta = options.Get("meta"), output = options.Get("output"), replies = options.Get("replies");
    if (!input.IsTypedArray() || !meta.IsTypedArray() || !output.IsTypedArray() || !replies.IsTypedArray()) {
      Napi::TypeError::New(env, "input, meta, output and replies must be Uint8Arrays").ThrowAsJavaScriptException();
      return;
    }
    Napi::Uint8Array in = input.As<Napi::Uint8Array>(), me = meta.As<Napi::Uint8Array>(), out = output.As<Napi::Uint8Array>(), re = replies.As<Napi::Uint8Array>();
    batch_ = me.ByteLength() / kReceivedBytes;
    replyCapacity_ = re.ByteLength() / (kReplyInts * sizeof(int32_t));
    if (batch_ == 0 || in.ByteLength() % batch_ != 0 || replyCapacity_ == 0) {
      Napi::RangeError::New(env, "buffer sizes do not match the batch").ThrowAsJavaScriptException();
      return;
    }
    slot_ = in.ByteLength() / batch_;
    input_ = in.Data();
    meta_ = me.Data();
    output_ = out.Data();
    outputLength_ = out.ByteLength();
    replies_ = re.Data();
    // The buffers live as long as the socket: the kernel and JavaScript both hold their addresses.
    buffers_ = Napi::Persistent(Napi::Array::New(env, 4));
    buffers_.Value().Set(uint32_t(0), input);
    buffers_.Value().Set(uint32_t(1), meta);
    buffers_.Value().Set(uint32_t(2), output);
    buffers_.Value().Set(uint32_t(3), replies);

    family_ = family == 6 ? AF_INET6 : AF_INET;
    sockaddr_storage local{};
    socklen_t localLength = 0;
    if (!Address(host, port, &local, &localLength)) {
      Napi::Error e = Napi::Error::New(env, "not an IPv" + std::to_string(family) + " address: " + host);
      e.Set("code", Napi::String::New(env, "EINVAL"));
      e.ThrowAsJavaScriptException();
      return;
    }
    fd_ = socket(family_, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      SyscallError(env, "socket", errno, "").ThrowAsJavaScriptException();
      return;
    }
    int one = 1;
    // [::] must not claim IPv4 too, so 0.0.0.0 and [::] can both be listened on (as dgram's ipv6Only).
    if (family_ == AF_INET6) setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (reusePort && setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      int error = errno;
      CloseFd();
      SyscallError(env, "setsockopt", error, "SO_REUSEPORT").ThrowAsJavaScriptException();
      return;
    }
    if (bind(fd_, reinterpret_cast<sockaddr*>(&local), localLength) != 0) {
      int error = errno;
      CloseFd();
      SyscallError(env, "bind", error, (family_ == AF_INET6 ? "[" + host + "]" : host) + ":" + std::to_string(port)).ThrowAsJavaScriptException();
      return;
    }

    received_.resize(batch_);
    receivedIov_.resize(batch_);
    peers_.resize(batch_);
    for (size_t i = 0; i < batch_; i++) {
      receivedIov_[i] = {input_ + i * slot_, slot_};
      received_[i].msg_hdr.msg_iov = &receivedIov_[i];
      received_[i].msg_hdr.msg_iovlen = 1;
      received_[i].msg_hdr.msg_name = &peers_[i];
    }
    sent_.resize(replyCapacity_);
    sentIov_.resize(replyCapacity_);

    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    if (uv_poll_init(loop, poll_, fd_) != 0) {
      delete poll_;
      poll_ = nullptr;
      CloseFd();
      Napi::Error::New(env, "cannot poll the UDP socket").ThrowAsJavaScriptException();
      return;
    }
    poll_->data = this;
    uv_poll_start(poll_, UV_READABLE, OnEvents);
    onBatch_ = Napi::Persistent(info[1].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "lbdns:udp-batch", info.This().As<Napi::Object>());
    // Open, it lives until closed even if JavaScript drops it; a worker thread that ends closes it.
    Ref();
    referenced_ = true;
    napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
    hooked_ = true;
  }

  ~UdpBatch() override { Shutdown(false); }

 private:
  bool Address(const std::string& host, int port, sockaddr_storage* out, socklen_t* length) const {
    if (family_ == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(out);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(static_cast<uint16_t>(port));
      *length = sizeof(sockaddr_in6);
      return inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) == 1;
    }
    auto* a = reinterpret_cast<sockaddr_in*>(out);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    *length = sizeof(sockaddr_in);
    return inet_pton(AF_INET, host.c_str(), &a->sin_addr) == 1;
  }

  Napi::Value Port(const Napi::CallbackInfo& info) {
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    if (fd_ < 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &length) != 0) return info.Env().Null();
    uint16_t port = local.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port : reinterpret_cast<sockaddr_in*>(&local)->sin_port;
    return Napi::Number::New(info.Env(), ntohs(port));
  }

  // send(count): sends replies 0..count-1 as laid out in `replies`; returns how many failed,
  // with those that failed since the last call while waiting in the queue.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    size_t count = info[0].As<Napi::Number>().Uint32Value();
    if (count > replyCapacity_) count = replyCapacity_;
    uint32_t failed = failedLater_;
    failedLater_ = 0;
    size_t ready = 0;
    for (size_t j = 0; j < count; j++) {
      int32_t entry[kReplyInts];
      memcpy(entry, replies_ + j * kReplyInts * sizeof(int32_t), sizeof entry);
      int32_t index = entry[0], offset = entry[1], length = entry[2];
      if (index < 0 || size_t(index) >= batch_ || offset < 0 || length < 0 || size_t(offset) + size_t(length) > outputLength_) {
        failed++;
        continue;
      }
      sentIov_[ready] = {output_ + offset, size_t(length)};
      mmsghdr& m = sent_[ready];
      m.msg_hdr = {};
      m.msg_hdr.msg_name = &peers_[index];
      m.msg_hdr.msg_namelen = received_[index].msg_hdr.msg_namelen;
      m.msg_hdr.msg_iov = &sentIov_[ready];
      m.msg_hdr.msg_iovlen = 1;
      ready++;
    }
    // Behind replies already waiting, these wait too: the kernel has no room yet.
    size_t done = queued_.empty() ? SendNow(sent_.data(), ready, &failed) : 0;
    for (size_t j = done; j < ready; j++) failed += Enqueue(sent_[j].msg_hdr);
    return Napi::Number::New(info.Env(), failed);
  }

  // sendTo(bytes, address, port): one reply to a datagram of an earlier batch (an answer that
  // waited for an upstream); false when it could not be sent.
  Napi::Value SendTo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0 || !info[0].IsTypedArray()) return Napi::Boolean::New(env, false);
    Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
    sockaddr_storage peer{};
    socklen_t length = 0;
    if (!Address(info[1].As<Napi::String>().Utf8Value(), info[2].As<Napi::Number>().Int32Value(), &peer, &length)) return Napi::Boolean::New(env, false);
    iovec iov = {bytes.Data(), bytes.ByteLength()};
    mmsghdr m{};
    m.msg_hdr.msg_name = &peer;
    m.msg_hdr.msg_namelen = length;
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
    uint32_t failed = 0;
    if (queued_.empty() && SendNow(&m, 1, &failed) == 1) return Napi::Boolean::New(env, failed == 0);
    return Napi::Boolean::New(env, Enqueue(m.msg_hdr) == 0);
  }

  // Sends what the kernel takes now; returns how many were sent or failed (counted in `failed`),
  // stopping at the first the kernel has no room for.
  size_t SendNow(mmsghdr* messages, size_t count, uint32_t* failed) {
    size_t done = 0;
    while (fd_ >= 0 && done < count) {
      int sent = sendmmsg(fd_, messages + done, static_cast<unsigned>(count - done), 0);
      if (sent >= 0) {
        done += size_t(sent);
      } else if (errno == EINTR) {
        continue;
      } else if (KernelBusy(errno)) {
        break;
      } else {
        // The first of the rest failed (its errno is its own): count it and send on past it.
        (*failed)++;
        done++;
      }
    }
    if (fd_ < 0) {
      *failed += static_cast<uint32_t>(count - done);
      done = count;
    }
    return done;
  }

  // Keeps a copy of a reply until the socket is writable; returns 1 when it is dropped instead.
  uint32_t Enqueue(const msghdr& message) {
    const iovec& iov = message.msg_iov[0];
    if (fd_ < 0 || queuedBytes_ + iov.iov_len > kMaxQueuedBytes) return 1;
    Queued q;
    memcpy(&q.peer, message.msg_name, message.msg_namelen);
    q.peerLength = message.msg_namelen;
    q.bytes.assign(static_cast<uint8_t*>(iov.iov_base), static_cast<uint8_t*>(iov.iov_base) + iov.iov_len);
    queuedBytes_ += iov.iov_len;
    queued_.push_back(std::move(q));
    if (queued_.size() == 1) uv_poll_start(poll_, UV_READABLE | UV_WRITABLE, OnEvents);
    return 0;
  }

  // The socket is writable: sends the queue's replies in order until the kernel is full again.
  void SendQueued() {
    mmsghdr messages[kQueuedPerSend];
    iovec iovs[kQueuedPerSend];
    while (!queued_.empty() && fd_ >= 0) {
      size_t count = 0;
      for (auto it = queued_.begin(); it != queued_.end() && count < kQueuedPerSend; ++it, ++count) {
        iovs[count] = {it->bytes.data(), it->bytes.size()};
        messages[count] = {};
        messages[count].msg_hdr.msg_name = &it->peer;
        messages[count].msg_hdr.msg_namelen = it->peerLength;
        messages[count].msg_hdr.msg_iov = &iovs[count];
        messages[count].msg_hdr.msg_iovlen = 1;
      }
      size_t done = SendNow(messages, count, &failedLater_);
      for (size_t j = 0; j < done; j++) {
        queuedBytes_ -= queued_.front().bytes.size();
        queued_.pop_front();
      }
      if (done < count) break;
    }
    if (queued_.empty() && poll_ != nullptr) uv_poll_start(poll_, UV_READABLE, OnEvents);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown(true);
    return info.Env().Undefined();
  }

  // answerFrom(ways, arena, control, seed): answer repeat queries from the shared table of fixed
  // answers (Int32Array ways, Uint8Array arena, over the table's SharedArrayBuffer), while
  // control[0] is 1; control[1] is the UDP size to advertise; seed the question keys' seed.
  Napi::Value AnswerFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsTypedArray() || !info[3].IsNumber()) {
      Napi::TypeError::New(env, "answerFrom(ways, arena, control, seed)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::TypedArray ways = info[0].As<Napi::TypedArray>(), arena = info[1].As<Napi::TypedArray>(), control = info[2].As<Napi::TypedArray>();
    size_t wayInts = ways.ElementLength();
    if (ways.TypedArrayType() != napi_int32_array || arena.TypedArrayType() != napi_uint8_array || control.TypedArrayType() != napi_int32_array || control.ElementLength() < 2 ||
        wayInts < 8 || (wayInts & (wayInts - 1)) != 0) {
      Napi::TypeError::New(env, "answerFrom: ways (Int32Array, a power of two long), arena (Uint8Array), control (Int32Array of 2)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    answerBuffers_ = Napi::Persistent(Napi::Array::New(env, 3));
    answerBuffers_.Value().Set(uint32_t(0), ways);
    answerBuffers_.Value().Set(uint32_t(1), arena);
    answerBuffers_.Value().Set(uint32_t(2), control);
    auto* wayData = reinterpret_cast<const int32_t*>(static_cast<const uint8_t*>(ways.ArrayBuffer().Data()) + ways.ByteOffset());
    auto* arenaData = static_cast<const uint8_t*>(arena.ArrayBuffer().Data()) + arena.ByteOffset();
    auto* controlData = reinterpret_cast<const int32_t*>(static_cast<const uint8_t*>(control.ArrayBuffer().Data()) + control.ByteOffset());
    answers_ = std::make_unique<lbdns::FixedAnswers>(wayData, wayInts, arenaData, arena.ByteLength(), controlData, info[3].As<Napi::Number>().Uint32Value());
    return env.Undefined();
  }

  static void OnEvents(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<UdpBatch*>(handle->data);
    if (status < 0 || self->fd_ < 0) return;
    if (events & UV_WRITABLE) self->SendQueued();
    if (events & UV_READABLE) self->Drain();
  }

  // Raw N-API calls, not node-addon-api's wrappers, from here on: this runs from the event loop,
  // not from JavaScript, and a wrapper whose call fails throws a JavaScript error, which napi_throw
  // cannot do in a thread that is stopping (a worker being terminated): that kills the process.
  void Drain() {
    napi_env env = Env();
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return StopReading();
    DrainIn(env);
    napi_close_handle_scope(env, scope);
  }

  // The thread can no longer run JavaScript (it is stopping): datagrams stay unread until the env
  // cleanup hook closes the socket.
  void StopReading() {
    if (poll_ != nullptr) uv_poll_stop(poll_);
  }

  void DrainIn(napi_env env) {
    for (int round = 0; round < kBatchesPerWakeup && fd_ >= 0; round++) {
      for (size_t i = 0; i < batch_; i++) {
        received_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        received_[i].msg_hdr.msg_flags = 0;
        received_[i].msg_len = 0;
      }
      int n = recvmmsg(fd_, received_.data(), static_cast<unsigned>(batch_), MSG_DONTWAIT, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;  // EAGAIN: drained. Anything else (an ICMP error queued on the socket) is the next wakeup's.
      }
      if (n == 0) return;
      for (int i = 0; i < n; i++) Describe(size_t(i));
      Answered answered = AnswerFixed(size_t(n));
      // The receiver must be an object (napi_make_callback converts it); onBatch is an arrow function, so which does not matter.
      napi_value args[4], receiver, onBatch, result;
      if (napi_create_uint32(env, uint32_t(n), &args[0]) != napi_ok || napi_create_uint32(env, answered.count, &args[1]) != napi_ok ||
          napi_create_uint32(env, answered.bytes, &args[2]) != napi_ok || napi_create_uint32(env, answered.nanosEach, &args[3]) != napi_ok ||
          napi_get_global(env, &receiver) != napi_ok || napi_get_reference_value(env, onBatch_, &onBatch) != napi_ok || onBatch == nullptr) {
        return StopReading();
      }
      napi_status status = napi_make_callback(env, *context_, receiver, onBatch, 4, args, &result);
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        // JavaScript catches its own errors; one that escapes is a bug, reported as Node reports
        // an exception thrown from any event callback.
        napi_value error;
        if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
        return;
      }
      if (status != napi_ok) return StopReading();
      if (size_t(n) < batch_) return;
    }
  }

  struct Answered {
    uint32_t count = 0;
    uint32_t bytes = 0;
    uint32_t nanosEach = 0;
  };

  static uint64_t Nanos() {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return uint64_t(now.tv_sec) * 1000000000u + uint64_t(now.tv_nsec);
  }

  // Answers what the shared table can of datagrams 0..n-1: replies 0..count-1, output 0..bytes-1.
  // Not a datagram cut short, nor one from port 0 (JavaScript counts those).
  Answered AnswerFixed(size_t n) {
    Answered answered;
    if (!answers_ || !answers_->enabled()) return answered;
    uint64_t started = Nanos();
    size_t used = 0;
    for (size_t i = 0; i < n && answered.count < replyCapacity_; i++) {
      uint32_t* fields = reinterpret_cast<uint32_t*>(meta_ + i * kReceivedBytes);
      if ((fields[3] & kTruncated) != 0 || fields[1] == 0) continue;
      lbdns::FixedAnswerFacts facts;
      size_t length = answers_->Answer(input_ + i * slot_, fields[0], output_ + used, outputLength_ - used, &facts);
      if (length == 0) continue;
      int32_t entry[kReplyInts] = {int32_t(i), int32_t(used), int32_t(length)};
      memcpy(replies_ + answered.count * kReplyInts * sizeof(int32_t), entry, sizeof entry);
      fields[3] |= kAnswered;
      fields[8] = facts.qtype;
      fields[9] = facts.zone;
      fields[10] = facts.rcode;
      fields[11] = uint32_t(length);
      used += length;
      answered.count++;
    }
    answered.bytes = uint32_t(used);
    if (answered.count > 0) answered.nanosEach = uint32_t((Nanos() - started) / answered.count);
    return answered;
  }

  void Describe(size_t i) {
    uint8_t* m = meta_ + i * kReceivedBytes;
    const msghdr& h = received_[i].msg_hdr;
    uint32_t fields[4] = {received_[i].msg_len, 0, 4, (h.msg_flags & MSG_TRUNC) ? kTruncated : 0};
    memset(m + 16, 0, 16);
    if (peers_[i].ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&peers_[i]);
      fields[1] = ntohs(a->sin6_port);
      fields[2] = 6;
      memcpy(m + 16, &a->sin6_addr, 16);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&peers_[i]);
      fields[1] = ntohs(a->sin_port);
      memcpy(m + 16, &a->sin_addr, 4);
    }
    memcpy(m, fields, sizeof fields);
  }

  static void OnEnvCleanup(void* arg) {
    auto* self = static_cast<UdpBatch*>(arg);
    self->hooked_ = false;
    self->Shutdown(false);
  }

  void CloseFd() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // Stops polling and closes the socket; `fromJs`: the object may be released to the collector.
  void Shutdown(bool fromJs) {
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    CloseFd();
    queued_.clear();
    queuedBytes_ = 0;
    if (hooked_) {
      napi_remove_env_cleanup_hook(Env(), OnEnvCleanup, this);
      hooked_ = false;
    }
    if (fromJs && referenced_) {
      referenced_ = false;
      Unref();
    }
  }

  int family_ = AF_INET;
  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  bool hooked_ = false;
  bool referenced_ = false;
  size_t batch_ = 0, slot_ = 0, replyCapacity_ = 0, outputLength_ = 0;
  uint8_t *input_ = nullptr, *meta_ = nullptr, *output_ = nullptr, *replies_ = nullptr;
  Napi::Reference<Napi::Array> buffers_;
  // The shared table's arrays answers_ reads, kept alive with the socket.
  Napi::Reference<Napi::Array> answerBuffers_;
  std::unique_ptr<lbdns::FixedAnswers> answers_;
  Napi::FunctionReference onBatch_;
  std::unique_ptr<Napi::AsyncContext> context_;
  std::vector<mmsghdr> received_, sent_;
  std::vector<iovec> receivedIov_, sentIov_;
  std::vector<sockaddr_storage> peers_;
  struct Queued {
    sockaddr_storage peer;
    socklen_t peerLength;
    std::vector<uint8_t> bytes;
  };
  std::deque<Queued> queued_;
  size_t queuedBytes_ = 0;
  // Queued replies that failed when they were sent at last; reported by the next send().
  uint32_t failedLater_ = 0;
};

}  // namespace

namespace lbdns {

Napi::Function DefineUdpBatch(Napi::Env env) {
  return UdpBatch::Define(env);
}

}  // namespace lbdns
