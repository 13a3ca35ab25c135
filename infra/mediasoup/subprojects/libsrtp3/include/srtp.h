// mediasoup (>= 3.13) is written against versatica's libsrtp 3 fork; Debian ships libsrtp 2.5.
// The two differ only in a few signatures mediasoup uses, so this header (found before the system
// one as <srtp.h>) includes libsrtp 2 and adds C++ overloads with the libsrtp 3 shapes on top.
#ifndef MERIDIAN_SRTP3_COMPAT_H
#define MERIDIAN_SRTP3_COMPAT_H

#include <srtp2/srtp.h>

#ifdef __cplusplus
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>

// Error codes added in libsrtp 3; values past libsrtp 2's last code so they never collide.
constexpr srtp_err_status_t srtp_err_status_buffer_small = static_cast<srtp_err_status_t>(28);
constexpr srtp_err_status_t srtp_err_status_cryptex_err  = static_cast<srtp_err_status_t>(29);

inline srtp_err_status_t srtp_stream_remove(srtp_t session, uint32_t ssrc)
{
	return srtp_remove_stream(session, ssrc);
}

namespace meridian_srtp_compat
{
	// libsrtp 3 takes separate in/out buffers; libsrtp 2 works in place. Copy into `out` (when it
	// differs) and let libsrtp 2 grow the packet there, checking the room first as libsrtp 3 does.
	template<typename Fn>
	inline srtp_err_status_t InPlace(
	  Fn fn, const uint8_t* in, size_t inLen, uint8_t* out, size_t* outLen, size_t trailer)
	{
		if (inLen > INT_MAX || *outLen < inLen + trailer)
			return srtp_err_status_buffer_small;

		if (out != in)
			std::memmove(out, in, inLen);

		int len                     = static_cast<int>(inLen);
		const srtp_err_status_t err = fn(out, &len);

		if (err == srtp_err_status_ok)
			*outLen = static_cast<size_t>(len);

		return err;
	}
} // namespace meridian_srtp_compat

inline srtp_err_status_t srtp_protect(
  srtp_t ctx, const uint8_t* rtp, size_t rtpLen, uint8_t* srtp, size_t* srtpLen, size_t mkiIndex)
{
	return meridian_srtp_compat::InPlace(
	  [&](uint8_t* buf, int* len)
	  { return srtp_protect_mki(ctx, buf, len, 0, static_cast<unsigned int>(mkiIndex)); },
	  rtp,
	  rtpLen,
	  srtp,
	  srtpLen,
	  SRTP_MAX_TRAILER_LEN);
}

inline srtp_err_status_t srtp_unprotect(
  srtp_t ctx, const uint8_t* srtp, size_t srtpLen, uint8_t* rtp, size_t* rtpLen)
{
	return meridian_srtp_compat::InPlace(
	  [&](uint8_t* buf, int* len) { return srtp_unprotect(ctx, buf, len); }, srtp, srtpLen, rtp, rtpLen, 0);
}

inline srtp_err_status_t srtp_protect_rtcp(
  srtp_t ctx, const uint8_t* rtcp, size_t rtcpLen, uint8_t* srtcp, size_t* srtcpLen, size_t mkiIndex)
{
	return meridian_srtp_compat::InPlace(
	  [&](uint8_t* buf, int* len)
	  { return srtp_protect_rtcp_mki(ctx, buf, len, 0, static_cast<unsigned int>(mkiIndex)); },
	  rtcp,
	  rtcpLen,
	  srtcp,
	  srtcpLen,
	  SRTP_MAX_TRAILER_LEN);
}

inline srtp_err_status_t srtp_unprotect_rtcp(
  srtp_t ctx, const uint8_t* srtcp, size_t srtcpLen, uint8_t* rtcp, size_t* rtcpLen)
{
	return meridian_srtp_compat::InPlace(
	  [&](uint8_t* buf, int* len) { return srtp_unprotect_rtcp(ctx, buf, len); },
	  srtcp,
	  srtcpLen,
	  rtcp,
	  rtcpLen,
	  0);
}

#ifdef MERIDIAN_SRTP3_POLICY_API
// libsrtp 3's policy is a handle filled by setters (mediasoup >= 3.24 uses it; build-worker.sh
// defines MERIDIAN_SRTP3_POLICY_API then); libsrtp 2's srtp_policy_t is the plain struct, which
// older mediasoup fills directly. The handle owns a libsrtp 2 policy plus the key||salt buffer it
// points at, and the name srtp_policy_t is redirected to that handle.
using meridian_srtp2_policy = srtp_policy_t;

struct meridian_srtp_policy
{
	meridian_srtp2_policy policy;
	uint8_t key[64]; // libsrtp's largest master key (AES-256) + salt fits
};

#define srtp_policy_t meridian_srtp_policy*

inline srtp_err_status_t srtp_policy_create(meridian_srtp_policy** policy)
{
	*policy = new meridian_srtp_policy{};
	return srtp_err_status_ok;
}

inline void srtp_policy_destroy(meridian_srtp_policy* policy)
{
	delete policy;
}

inline srtp_err_status_t srtp_policy_set_ssrc(meridian_srtp_policy* policy, srtp_ssrc_t ssrc)
{
	policy->policy.ssrc = ssrc;
	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_profile(meridian_srtp_policy* policy, srtp_profile_t profile)
{
	const srtp_err_status_t err = srtp_crypto_policy_set_from_profile_for_rtp(&policy->policy.rtp, profile);
	return err != srtp_err_status_ok ? err
	                                 : srtp_crypto_policy_set_from_profile_for_rtcp(&policy->policy.rtcp, profile);
}

inline srtp_err_status_t srtp_policy_add_key(
  meridian_srtp_policy* policy,
  const uint8_t* key,
  size_t keyLen,
  const uint8_t* salt,
  size_t saltLen,
  const uint8_t* mki,
  size_t mkiLen)
{
	if (mki != nullptr || mkiLen != 0)
		return srtp_err_status_no_such_op;
	if (keyLen + saltLen > sizeof(policy->key))
		return srtp_err_status_bad_param;

	std::memcpy(policy->key, key, keyLen);
	std::memcpy(policy->key + keyLen, salt, saltLen);
	policy->policy.key = policy->key;
	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_allow_repeat_tx(meridian_srtp_policy* policy, bool allow)
{
	policy->policy.allow_repeat_tx = allow ? 1 : 0;
	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_window_size(meridian_srtp_policy* policy, size_t windowSize)
{
	policy->policy.window_size = static_cast<unsigned long>(windowSize);
	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_create(srtp_t* session, const meridian_srtp_policy* policy)
{
	return srtp_create(session, &policy->policy);
}
#endif // MERIDIAN_SRTP3_POLICY_API
#endif // __cplusplus

#endif
