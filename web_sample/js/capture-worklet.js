// Glue: the audio thread's one job, posting the microphone's samples (first channel) to the page as they arrive.
class Capture extends AudioWorkletProcessor {
  process(inputs) {
    const x = inputs[0]?.[0];
    if (x?.length) this.port.postMessage(x.slice(0));
    return true;
  }
}
registerProcessor('avsep-capture', Capture);
