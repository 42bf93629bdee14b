// Offline renderer of a note list with one STK (Synthesis ToolKit) physical model.
//
// Part of Instrument Meter's corpus builder (engine_synth.py compiles it on first use):
//   g++ -O2 stk_render.cpp -lstk -o stk_render
// Reads a score as text on stdin, writes raw float32 mono samples to stdout.
//
// Input lines (times in seconds, one item per line, '#' starts a comment):
//   model <Bowed|Clarinet|Saxofony|Flute|Brass|VoicForm|Guitar|Plucked>
//   rate <Hz>            sample rate (default 44100)
//   length <samples>     number of output samples
//   seed <n>             seed of every noise source (same input -> same bytes)
//   rawwaves <dir>       STK rawwave folder (VoicForm needs it)
//   strings <n>          Guitar: number of strings (voices)
//   init <cc> <value>    control change sent to every voice before its note starts (0..128)
//   note <on> <off> <key (fractional: cents)> <velocity 0..127> [phoneme]
//   cc <t> <cc> <value>  control change sent to every sounding voice at time t
//   bend <t> <semitones> pitch offset of every voice from time t
//   release <s>          how long a voice keeps sounding after its note-off (default 0.6)
//
// Noise in STK comes from the C library's rand(), and STK's Noise constructor seeds it with
// time(NULL): this program defines time() itself (a fixed value), so the only seed is `seed`.

#include <stk/Bowed.h>
#include <stk/Brass.h>
#include <stk/Clarinet.h>
#include <stk/Flute.h>
#include <stk/Guitar.h>
#include <stk/Plucked.h>
#include <stk/Saxofony.h>
#include <stk/Stk.h>
#include <stk/VoicForm.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

extern "C" time_t time(time_t *t) {
  if (t) *t = 1;
  return 1;
}

using namespace stk;

struct NoteEv {
  double on, off;
  double key;  // MIDI key, fractional keys are tuned between the semitones
  double vel;
  std::string phon;
};
struct CcEv {
  double t;
  int num;
  double val;
};

static double mtof(double k) { return 440.0 * std::pow(2.0, (k - 69.0) / 12.0); }

static Instrmnt *make(const std::string &m) {
  if (m == "Bowed") return new Bowed(20.0);
  if (m == "Clarinet") return new Clarinet(20.0);
  if (m == "Saxofony") return new Saxofony(20.0);
  if (m == "Flute") return new Flute(20.0);
  if (m == "Brass") return new Brass(20.0);
  if (m == "VoicForm") return new VoicForm();
  if (m == "Plucked") return new Plucked(20.0);
  return nullptr;
}

int main() {
  std::string model = "Bowed", rawwaves = "/usr/share/stk/rawwaves/";
  double rate = 44100.0, release = 0.6;
  long length = 0;
  unsigned seed = 1;
  int nstrings = 6;
  std::vector<std::pair<int, double>> inits;
  std::vector<NoteEv> notes;
  std::vector<CcEv> ccs, bends;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string w;
    if (!(in >> w) || w[0] == '#') continue;
    if (w == "model") in >> model;
    else if (w == "rate") in >> rate;
    else if (w == "length") in >> length;
    else if (w == "seed") in >> seed;
    else if (w == "rawwaves") in >> rawwaves;
    else if (w == "strings") in >> nstrings;
    else if (w == "release") in >> release;
    else if (w == "init") {
      int c;
      double v;
      in >> c >> v;
      inits.push_back({c, v});
    } else if (w == "note") {
      NoteEv n;
      in >> n.on >> n.off >> n.key >> n.vel;
      if (!(in >> n.phon)) n.phon = "";
      notes.push_back(n);
    } else if (w == "cc") {
      CcEv c;
      in >> c.t >> c.num >> c.val;
      ccs.push_back(c);
    } else if (w == "bend") {
      CcEv c;
      c.num = 0;
      in >> c.t >> c.val;
      bends.push_back(c);
    } else {
      std::cerr << "stk_render: unknown line: " << line << "\n";
      return 2;
    }
  }
  if (rawwaves.empty() || rawwaves.back() != '/') rawwaves += '/';
  Stk::setSampleRate(rate);
  Stk::setRawwavePath(rawwaves);
  Stk::showWarnings(false);
  std::sort(notes.begin(), notes.end(), [](const NoteEv &a, const NoteEv &b) { return a.on < b.on; });
  std::sort(ccs.begin(), ccs.end(), [](const CcEv &a, const CcEv &b) { return a.t < b.t; });
  std::sort(bends.begin(), bends.end(), [](const CcEv &a, const CcEv &b) { return a.t < b.t; });
  std::vector<float> out(std::max(0L, length), 0.0f);
  const bool guitar = model == "Guitar";

  // every object is made before the seed is set: their constructors reseed rand()
  std::vector<std::unique_ptr<Instrmnt>> voices;
  std::unique_ptr<Guitar> gtr;
  if (guitar) {
    gtr.reset(new Guitar(nstrings));
    for (auto &iv : inits) gtr->controlChange(iv.first, iv.second);
  } else {
    for (size_t i = 0; i < notes.size(); i++) {
      Instrmnt *v = make(model);
      if (!v) {
        std::cerr << "stk_render: unknown model " << model << "\n";
        return 2;
      }
      for (auto &iv : inits) v->controlChange(iv.first, iv.second);
      voices.emplace_back(v);
    }
  }
  std::srand(seed);

  auto sample_of = [&](double t) { return (long)std::llround(t * rate); };
  double bend = 0.0;
  size_t ci = 0, bi = 0;
  if (guitar) {
    // a note takes the string that has been silent longest (strings ring until reused or damped)
    std::vector<double> freeAt(nstrings, -1e9);
    std::vector<double> strKey(nstrings, -1.0);
    std::vector<long> offAt(nstrings, -1);
    size_t ni = 0;
    for (long s = 0; s < length; s++) {
      double t = s / rate;
      while (bi < bends.size() && sample_of(bends[bi].t) <= s) {
        bend = bends[bi++].val;
        for (int k = 0; k < nstrings; k++)
          if (strKey[k] >= 0) gtr->setFrequency(mtof(strKey[k] + bend), k);
      }
      while (ci < ccs.size() && sample_of(ccs[ci].t) <= s) {
        gtr->controlChange(ccs[ci].num, ccs[ci].val);
        ci++;
      }
      while (ni < notes.size() && sample_of(notes[ni].on) <= s) {
        const NoteEv &n = notes[ni++];
        int best = 0;
        for (int k = 0; k < nstrings; k++) {
          if (strKey[k] == n.key) {  // same pitch again: same string
            best = k;
            break;
          }
          if (freeAt[k] < freeAt[best]) best = k;
        }
        strKey[best] = n.key;
        freeAt[best] = n.off;
        offAt[best] = sample_of(n.off);
        gtr->noteOn(mtof(n.key + bend), n.vel / 127.0, best);
      }
      for (int k = 0; k < nstrings; k++)
        if (offAt[k] >= 0 && offAt[k] == s) {
          gtr->noteOff(0.5, k);
          offAt[k] = -1;
        }
      out[s] = (float)gtr->tick();
    }
  } else {
    std::vector<long> on(notes.size()), off(notes.size()), end(notes.size());
    for (size_t i = 0; i < notes.size(); i++) {
      on[i] = sample_of(notes[i].on);
      off[i] = std::max(on[i] + 1, sample_of(notes[i].off));
      end[i] = off[i] + sample_of(release);
    }
    std::vector<size_t> active;
    size_t ni = 0;
    for (long s = 0; s < length; s++) {
      while (bi < bends.size() && sample_of(bends[bi].t) <= s) {
        bend = bends[bi++].val;
        for (size_t i : active)
          if (s < off[i]) voices[i]->setFrequency(mtof(notes[i].key + bend));
      }
      while (ci < ccs.size() && sample_of(ccs[ci].t) <= s) {
        for (size_t i : active)
          if (s < off[i]) voices[i]->controlChange(ccs[ci].num, ccs[ci].val);
        ci++;
      }
      while (ni < notes.size() && on[ni] <= s) {
        Instrmnt *v = voices[ni].get();
        if (model == "VoicForm" && !notes[ni].phon.empty())
          static_cast<VoicForm *>(v)->setPhoneme(notes[ni].phon.c_str());
        v->noteOn(mtof(notes[ni].key + bend), notes[ni].vel / 127.0);
        active.push_back(ni++);
      }
      double acc = 0.0;
      for (size_t j = 0; j < active.size();) {
        size_t i = active[j];
        if (s == off[i]) voices[i]->noteOff(0.5);
        if (s >= end[i]) {
          active.erase(active.begin() + j);
          voices[i].reset();
          continue;
        }
        acc += voices[i]->tick();
        j++;
      }
      out[s] = (float)acc;
    }
  }
  std::fwrite(out.data(), sizeof(float), out.size(), stdout);
  return 0;
}
