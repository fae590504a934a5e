// Glue: a video frame drawn with each slot's face box in its slot colour (the same colours label the voices below it).
export const SLOT_COLOURS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4'];

export function drawFrame(canvas, img, boxes) {
  if (canvas.width !== img.width || canvas.height !== img.height) { canvas.width = img.width; canvas.height = img.height; }
  const ctx = canvas.getContext('2d');
  ctx.putImageData(new ImageData(img.data, img.width, img.height), 0, 0);
  ctx.lineWidth = Math.max(2, img.width / 320);
  ctx.font = `${Math.max(12, Math.round(img.width / 32))}px sans-serif`;
  boxes.forEach((b, s) => {
    if (!b) return;
    ctx.strokeStyle = SLOT_COLOURS[s % SLOT_COLOURS.length];
    ctx.strokeRect(b[0], b[1], b[2] - b[0], b[3] - b[1]);
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fillText(`speaker ${s + 1}`, b[0], Math.max(10, b[1] - 4));
  });
}
