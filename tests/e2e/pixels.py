#!/usr/bin/env python3
"""Pixels of a screenshot, for the RDP tests: an X window dump (xwd -root) or a PNG (wardenctl
recordings export --format png), read with the standard library only.

  pixels.py hash FILE X Y W H   SHA-256 of the region's RGB bytes
  pixels.py color FILE X Y      the pixel's colour as #rrggbb
  pixels.py xbm FILE            writes a 64x64 test pattern (diagonal stripes and a corner mark)
"""
import hashlib
import struct
import sys
import zlib


def read_xwd(data, region):
    h = struct.unpack(">25I", data[:100])
    header_size, width, height = h[0], h[4], h[5]
    byte_order, bits_per_pixel, bytes_per_line, ncolors = h[7], h[11], h[12], h[19]
    if bits_per_pixel != 32:
        sys.exit("xwd: only 32 bits per pixel")
    x0, y0, w, hh = region
    if x0 + w > width or y0 + hh > height:
        sys.exit("region outside the %dx%d image" % (width, height))
    off = header_size + ncolors * 12
    rows = []
    for y in range(y0, y0 + hh):
        line = data[off + y * bytes_per_line + x0 * 4: off + y * bytes_per_line + (x0 + w) * 4]
        rgb = bytearray(w * 3)
        if byte_order == 0:  # LSBFirst: B G R X
            rgb[0::3], rgb[1::3], rgb[2::3] = line[2::4], line[1::4], line[0::4]
        else:  # MSBFirst: X R G B
            rgb[0::3], rgb[1::3], rgb[2::3] = line[1::4], line[2::4], line[3::4]
        rows.append(bytes(rgb))
    return rows


def read_png(data, region):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("not a PNG")
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            if depth != 8 or color not in (2, 6):
                sys.exit("png: only 8-bit RGB or RGBA")
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    x0, y0, w, hh = region
    if x0 + w > width or y0 + hh > height:
        sys.exit("region outside the %dx%d image" % (width, height))
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(y0 + hh):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 2:
            line = bytearray((v + p) & 0xFF for v, p in zip(line, prev))
        elif f != 0:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = prev[i]
                c = prev[i - channels] if i >= channels else 0
                if f == 1:
                    line[i] = (line[i] + a) & 0xFF
                elif f == 3:
                    line[i] = (line[i] + (a + b) // 2) & 0xFF
                elif f == 4:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        prev = line
        if y >= y0:
            part = line[x0 * channels:(x0 + w) * channels]
            if channels == 4:
                rgb = bytearray(w * 3)
                rgb[0::3], rgb[1::3], rgb[2::3] = part[0::4], part[1::4], part[2::4]
                part = rgb
            rows.append(bytes(part))
    return rows


def load(path, region):
    data = open(path, "rb").read()
    return read_png(data, region) if data[:4] == b"\x89PNG" else read_xwd(data, region)


def main():
    cmd = sys.argv[1]
    if cmd == "xbm":
        rows = []
        for y in range(64):
            bits = [((x + y) // 8) % 2 == 0 or (x < 8 and y < 8) for x in range(64)]
            rows.append([sum(1 << j for j in range(8) if bits[i * 8 + j]) for i in range(8)])
        body = ", ".join("0x%02x" % b for r in rows for b in r)
        open(sys.argv[2], "w").write(
            "#define p_width 64\n#define p_height 64\nstatic unsigned char p_bits[] = {\n%s };\n" % body)
        return
    if cmd == "color":
        x, y = int(sys.argv[3]), int(sys.argv[4])
        print("#" + load(sys.argv[2], (x, y, 1, 1))[0].hex())
    elif cmd == "hash":
        region = tuple(int(v) for v in sys.argv[3:7])
        print(hashlib.sha256(b"".join(load(sys.argv[2], region))).hexdigest())

main()
