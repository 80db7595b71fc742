#ifndef CFLAC_SHIM_H
#define CFLAC_SHIM_H
#include <FLAC/stream_encoder.h>
#include <FLAC/stream_decoder.h>
#include <FLAC/metadata.h>

/* Exported by libFLAC (1.3 and later) and used by `flac --no-md5-sum`, but declared only in the flac tools'
   private header share/private.h: turns off the STREAMINFO MD5 of the encoder. */
extern FLAC__bool FLAC__stream_encoder_set_do_md5(FLAC__StreamEncoder *encoder, FLAC__bool value);
#endif
