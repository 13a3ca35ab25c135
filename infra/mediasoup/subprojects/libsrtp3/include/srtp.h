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
#endif // __cplusplus

#endif
